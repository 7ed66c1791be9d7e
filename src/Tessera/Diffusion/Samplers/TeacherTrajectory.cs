namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Fine probability-flow trajectories that a σ-grid is fitted against: the states x(σᵢ) [M, …] at every σ of a fine,
/// strictly decreasing grid from σ_max (x = σ_max·ε) down to σ = 0 (the fine solution). Owns its tensors.
/// </summary>
public sealed class TeacherTrajectory : IDisposable
{
    /// <summary>The fine grid, strictly decreasing, last value 0.</summary>
    public double[] Sigmas { get; }

    /// <summary>x(σᵢ) for every σᵢ of <see cref="Sigmas"/>; the first is the start, the last the fine solution.</summary>
    public torch.Tensor[] States { get; }

    /// <summary>The start x(σ_max).</summary>
    public torch.Tensor Start => States[0];

    /// <summary>The fine solution x(0).</summary>
    public torch.Tensor Target => States[^1];

    /// <summary>Takes ownership of <paramref name="states"/> (detached from any dispose scope).</summary>
    /// <exception cref="TesseraUserException">Fewer than two σ's, a count mismatch, σ not strictly decreasing, or a last σ other than 0.</exception>
    public TeacherTrajectory(double[] sigmas, torch.Tensor[] states)
    {
        if (sigmas.Length < 2 || sigmas.Length != states.Length)
            throw new TesseraUserException(nameof(states), $"need at least two σ's and one state per σ; got {sigmas.Length} σ's and {states.Length} states");
        for (int i = 1; i < sigmas.Length; i++)
            if (!(sigmas[i] < sigmas[i - 1])) throw new TesseraUserException(nameof(sigmas), $"σ must decrease strictly; σ[{i}] = {sigmas[i]} after {sigmas[i - 1]}");
        if (sigmas[^1] != 0) throw new TesseraUserException(nameof(sigmas), $"the last σ must be 0, got {sigmas[^1]}");
        Sigmas = sigmas;
        States = states.Select(s => s.DetachFromDisposeScope()).ToArray();
    }

    /// <summary>
    /// The fine grid used by the fitters: <paramref name="intervals"/> log-uniform steps from σ_max down to σ_min, then
    /// one more to 0 (intervals + 2 values).
    /// </summary>
    public static double[] LogUniformGrid(int intervals, double sigmaMin, double sigmaMax)
    {
        if (intervals < 1) throw new TesseraUserException(nameof(intervals), $"need at least one interval, got {intervals}");
        if (!(sigmaMin > 0) || !(sigmaMax > sigmaMin)) throw new TesseraUserException(nameof(sigmaMin), $"need 0 < σ_min < σ_max, got {sigmaMin} and {sigmaMax}");
        var g = new double[intervals + 2];
        for (int i = 0; i <= intervals; i++) g[i] = sigmaMax * Math.Pow(sigmaMin / sigmaMax, (double)i / intervals);
        g[0] = sigmaMax;
        g[intervals] = sigmaMin;
        return g;
    }

    /// <summary>
    /// A teacher from a solver run on the fine grid itself, one step per interval (for a trained model: Heun, whose
    /// last step to σ = 0 is a single Euler step onto D(x; σ_min), as in Karras et al. 2022, Algorithm 1).
    /// </summary>
    public static TeacherTrajectory FromSolver(string solver, Denoiser model, torch.Tensor start, double[] sigmas, CancellationToken cancellation = default)
    {
        var states = new torch.Tensor[sigmas.Length];
        states[0] = start.clone();
        for (int i = 1; i < sigmas.Length; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            states[i] = SamplerRegistry.Sample(solver, model, states[i - 1], [sigmas[i - 1], sigmas[i]], new GeneratorNoise(0)).MoveToOuterDisposeScope();
        }
        return new TeacherTrajectory(sigmas, states);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in States) s.Dispose();
    }
}
