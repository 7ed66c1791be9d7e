using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Analytic;

/// <summary>
/// The probability-flow ODE of an isotropic mixture in as few coordinates as it needs. Let Q [d, r] be an orthonormal
/// basis of a space holding every mean (r = min(K, d)) and write x = Q·z + b·ŵ with ŵ a unit vector orthogonal to Q,
/// one per sample. The slope of <see cref="GaussianMixture.FlowVelocity"/>, dx/dσ = σ·(c·x − (r/v)·μ) with
/// c = Σₖ rₖ/vₖ (Karras et al. 2022, EDM eq. 3 with s = 1), keeps that form: dz/dσ = σ·(c·z − (r/v)·Qᵀμ),
/// db/dσ = σ·c·b, ŵ fixed, and the responsibilities need only |x − μₖ|² = |z|² + b² − 2·z·Qᵀμₖ + |μₖ|².
/// So the 64-D, 16-mode problem is solved exactly in 17 coordinates instead of 64.
/// </summary>
internal sealed class MixtureFlow : IDisposable
{
    private readonly int _r;
    private readonly double _dim;
    private readonly torch.Tensor _basis;    // Q [d, r]
    private readonly torch.Tensor _muQ;      // Qᵀμ as [K, r]
    private readonly torch.Tensor _muQtNeg2; // −2·Qᵀμ as [r, K]
    private readonly torch.Tensor _mu2;      // |μₖ|² [K]
    private readonly double[] _logWHost;
    private readonly double[] _s2Host;
    private readonly torch.Tensor _direction; // ŵ [N, d]

    /// <summary>The starting state [N, r + 1] of the points given: (Qᵀx, |x − QQᵀx|).</summary>
    public torch.Tensor State { get; }

    /// <summary>Sets up the reduced coordinates of the points <paramref name="start"/> [N, d].</summary>
    public MixtureFlow(GaussianMixture mixture, torch.Tensor start)
    {
        int d = mixture.Dim, k = mixture.Weights.Length;
        _dim = d;
        using var scope = torch.NewDisposeScope();
        var mu = torch.tensor(mixture.Means.SelectMany(m => m).ToArray(), [k, d], torch.ScalarType.Float64);
        // Householder QR gives orthonormal columns spanning every mean, even when the means are dependent.
        var q = k >= d ? torch.eye(d, dtype: torch.ScalarType.Float64) : torch.linalg.qr(mu.t()).Q;
        _r = (int)q.shape[1];
        var x = start.to(torch.ScalarType.Float64);
        var z = x.matmul(q);
        var rest = x - z.matmul(q.t());
        var b = rest.square().sum(1, keepdim: true).sqrt();
        _direction = (rest / b.clamp_min(double.Epsilon)).DetachFromDisposeScope();
        State = torch.cat([z, b], 1).DetachFromDisposeScope();
        _basis = q.DetachFromDisposeScope();
        _muQ = mu.matmul(q).DetachFromDisposeScope();
        _muQtNeg2 = (_muQ.t() * -2).contiguous().DetachFromDisposeScope();
        _mu2 = mu.square().sum(1).DetachFromDisposeScope();
        _logWHost = mixture.Weights.Select(w => Math.Log(w)).ToArray();
        _s2Host = mixture.Stds.Select(s => s * s).ToArray();
    }

    /// <summary>d(z, b)/dσ at <paramref name="sigma"/> (finite down to σ = 0, where it vanishes).</summary>
    public torch.Tensor Velocity(double sigma, torch.Tensor state)
    {
        using var scope = torch.NewDisposeScope();
        using var bag = new ScalarBag();
        // Per-mode constants in double: vₖ = sₖ² + σ², log wₖ − (d/2)·log 2πvₖ, −1/(2vₖ) and 1/vₖ.
        int k = _s2Host.Length;
        double[] bias = new double[k], negHalfInv = new double[k], inv = new double[k];
        for (int i = 0; i < k; i++)
        {
            double v = _s2Host[i] + sigma * sigma;
            bias[i] = _logWHost[i] - 0.5 * _dim * Math.Log(2 * Math.PI * v);
            negHalfInv[i] = -0.5 / v;
            inv[i] = 1 / v;
        }
        var z = state.narrow(1, 0, _r);
        var norm2 = state.Squared().sum(1, keepdim: true);                        // |z|² + b² = |x|²
        var one = bag.Of(1);
        var logits = z.matmul(_muQtNeg2).add_(norm2, one).add_(_mu2, one).clamp_min_(bag.Of(0));   // |x − μₖ|² [N, K]
        logits.mul_(torch.tensor(negHalfInv)).add_(torch.tensor(bias), one);
        var rv = torch.softmax(logits, 1).mul_(torch.tensor(inv));                // rₖ/vₖ
        var slope = state * rv.sum(1, keepdim: true);                             // c·(z, b)
        slope.narrow(1, 0, _r).add_(rv.matmul(_muQ), bag.Of(-1));
        return slope.mul_(bag.Of(sigma)).MoveToOuterDisposeScope();
    }

    /// <summary>x = Q·z + b·ŵ [N, d] of a state.</summary>
    public torch.Tensor Expand(torch.Tensor state)
    {
        using var scope = torch.NewDisposeScope();
        var x = state.narrow(1, 0, _r).matmul(_basis.t()).add_(_direction * state.narrow(1, _r, 1));
        return x.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        State.Dispose();
        _direction.Dispose();
        _basis.Dispose();
        _muQ.Dispose();
        _muQtNeg2.Dispose();
        _mu2.Dispose();
    }
}
