namespace Tessera.Diffusion.Samplers;

/// <summary>Settings of EDM's stochastic sampler (paper names; NVlabs/edm calls S_tmin/S_tmax S_min/S_max).</summary>
/// <param name="SChurn">Total churn; per step γ = min(S_churn/N, √2 − 1) inside [S_tmin, S_tmax].</param>
/// <param name="STmin">Lowest σ that gets churn.</param>
/// <param name="STmax">Highest σ that gets churn.</param>
/// <param name="SNoise">Noise inflation.</param>
public sealed record EdmStochasticOptions(double SChurn = 40, double STmin = 0.05, double STmax = 50, double SNoise = 1.003);

/// <summary>
/// EDM's stochastic sampler (Karras et al. Algorithm 2; NVlabs/edm generate.py edm_sampler): raise σ to
/// σ̂ = σ(1 + γ) by adding noise of variance σ̂² − σ², then a Heun step from σ̂ to σₙ (Euler at the end).
/// A normal draw is taken at every step, even where γ = 0, exactly as the reference does.
/// </summary>
public static class EdmStochastic
{
    /// <summary>Samples down the grid with churn.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, EdmStochasticOptions? options = null, Action<SamplerStep>? callback = null)
    {
        var o = options ?? new EdmStochasticOptions();
        int steps = sigmas.Count - 1;
        return SamplerMath.Loop(x, sigmas, (i, cur, t, tn) =>
        {
            double gamma = t >= o.STmin && t <= o.STmax ? Math.Min(o.SChurn / steps, Math.Sqrt(2) - 1) : 0;
            // σ̂ = σ(1 + γ);  x̂ = x + √(σ̂² − σ²)·S_noise·ε
            double tHat = t + gamma * t;
            var xHat = cur.Plus(noise.Next(cur).Times(Math.Sqrt(tHat * tHat - t * t) * o.SNoise));
            var denoised = model(xHat, tHat);
            callback?.Invoke(new SamplerStep(i, tHat, tn, xHat, denoised));
            return Heun.HeunStep(model, xHat, tHat, tn, denoised);
        });
    }
}
