namespace Tessera.Diffusion.Preconditioning;

/// <summary>The four coefficients of D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise) and the loss weight λ(σ).</summary>
/// <param name="CSkip">Skip-connection scale.</param>
/// <param name="COut">Output scale.</param>
/// <param name="CIn">Input scale.</param>
/// <param name="CNoise">The network's noise conditioning input.</param>
/// <param name="LossWeight">λ(σ), or NaN where the reference defines no loss.</param>
public readonly record struct PrecondCoefficients(double CSkip, double COut, double CIn, double CNoise, double LossWeight);

/// <summary>
/// Network preconditioning (Karras et al. Table 1; NVlabs/edm training/networks.py and loss.py): how a raw
/// network F becomes the denoiser D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)), and the weight
/// λ(σ) of the training loss λ(σ)·|D(x₀ + σε; σ) − x₀|².
/// </summary>
public abstract class Preconditioner
{
    /// <summary>Name ("edm", "vp", "ve", "iddpm").</summary>
    public abstract string Name { get; }

    /// <summary>The coefficients at σ.</summary>
    public abstract PrecondCoefficients At(double sigma);
}

/// <summary>EDM (σ_data = 0.5): c_skip = σd²/(σ²+σd²), c_out = σσd/√(σ²+σd²), c_in = 1/√(σ²+σd²), c_noise = ln(σ)/4, λ = (σ²+σd²)/(σσd)².</summary>
public sealed class EdmPrecond(double sigmaData = 0.5) : Preconditioner
{
    /// <summary>σ_data.</summary>
    public double SigmaData => sigmaData;

    /// <inheritdoc />
    public override string Name => "edm";

    /// <inheritdoc />
    public override PrecondCoefficients At(double sigma)
    {
        double sd2 = sigmaData * sigmaData, v = sigma * sigma + sd2;
        return new PrecondCoefficients(sd2 / v, sigma * sigmaData / Math.Sqrt(v), 1 / Math.Sqrt(v), Math.Log(sigma) / 4, v / (sigma * sigmaData * sigma * sigmaData));
    }
}

/// <summary>VP (β_d = 19.9, β_min = 0.1, M = 1000): c_skip = 1, c_out = −σ, c_in = 1/√(σ²+1), c_noise = (M − 1)·σ⁻¹(σ), λ = 1/σ².</summary>
public sealed class VpPrecond(double betaD = 19.9, double betaMin = 0.1, int m = 1000, double epsilonT = 1e-5) : Preconditioner
{
    /// <inheritdoc />
    public override string Name => "vp";

    /// <summary>σ⁻¹(σ) = (√(β_min² + 2β_d·ln(1 + σ²)) − β_min)/β_d, with ln(1 + σ²) computed without cancellation.</summary>
    public double SigmaInv(double sigma) => (Math.Sqrt(betaMin * betaMin + 2 * betaD * Math.Log(1 + sigma * sigma)) - betaMin) / betaD;

    /// <summary>σ(t) = √(exp(β_d t²/2 + β_min t) − 1).</summary>
    public double Sigma(double t) => Math.Sqrt(PreciseMath.Expm1(0.5 * betaD * t * t + betaMin * t));

    /// <summary>Smallest σ of training, σ(ε_t).</summary>
    public double SigmaMin => Sigma(epsilonT);

    /// <summary>Largest σ, σ(1).</summary>
    public double SigmaMax => Sigma(1);

    /// <inheritdoc />
    public override PrecondCoefficients At(double sigma) =>
        new(1, -sigma, 1 / Math.Sqrt(sigma * sigma + 1), (m - 1) * SigmaInv(sigma), 1 / (sigma * sigma));
}

/// <summary>VE: c_skip = 1, c_out = σ, c_in = 1, c_noise = ln(σ/2), λ = 1/σ².</summary>
public sealed class VePrecond(double sigmaMin = 0.02, double sigmaMax = 100) : Preconditioner
{
    /// <summary>Training range.</summary>
    public (double Min, double Max) Range => (sigmaMin, sigmaMax);

    /// <inheritdoc />
    public override string Name => "ve";

    /// <inheritdoc />
    public override PrecondCoefficients At(double sigma) => new(1, sigma, 1, Math.Log(0.5 * sigma), 1 / (sigma * sigma));
}

/// <summary>
/// iDDPM / ADM (C₁ = 0.001, C₂ = 0.008, M = 1000): c_skip = 1, c_out = −σ, c_in = 1/√(σ²+1), c_noise = M − 1 − j*
/// where u_{j*} is the grid value nearest σ; the grid is uₘ = 0, u_{j−1} = √((uⱼ² + 1)/max(ᾱ(j−1)/ᾱ(j), C₁) − 1),
/// ᾱ(j) = sin²(π/2·j/(M(C₂ + 1))). No loss is defined (λ = NaN).
/// </summary>
public sealed class IddpmPrecond : Preconditioner
{
    /// <summary>The grid u₀ … u_M, descending.</summary>
    public double[] U { get; }

    private readonly int _m;

    /// <summary>Builds the grid in float64.</summary>
    public IddpmPrecond(double c1 = 0.001, double c2 = 0.008, int m = 1000)
    {
        _m = m;
        double AlphaBar(int j) => Math.Pow(Math.Sin(0.5 * Math.PI * j / m / (c2 + 1)), 2);
        U = new double[m + 1];
        for (int j = m; j > 0; j--)
            U[j - 1] = Math.Sqrt((U[j] * U[j] + 1) / Math.Max(AlphaBar(j - 1) / AlphaBar(j), c1) - 1);
    }

    /// <inheritdoc />
    public override string Name => "iddpm";

    /// <summary>Index j* of the grid value nearest σ (first on ties, as argmin).</summary>
    public int NearestIndex(double sigma)
    {
        int best = 0;
        for (int j = 1; j < U.Length; j++) if (Math.Abs(U[j] - sigma) < Math.Abs(U[best] - sigma)) best = j;
        return best;
    }

    /// <inheritdoc />
    public override PrecondCoefficients At(double sigma) =>
        new(1, -sigma, 1 / Math.Sqrt(sigma * sigma + 1), _m - 1 - NearestIndex(sigma), double.NaN);
}
