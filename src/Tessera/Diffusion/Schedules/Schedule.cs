namespace Tessera.Diffusion.Schedules;

/// <summary>
/// A diffusion process in Karras et al.'s form (EDM eq. 1–4): x(t) = s(t)·(x₀ + σ(t)·ε), given by the scale
/// s(t), the noise level σ(t), their time derivatives, and σ's inverse. From these follow the forward SDE,
/// the reverse SDE and the probability-flow ODE (see <see cref="Sde"/>).
/// </summary>
public abstract class Schedule
{
    /// <summary>A short name ("vp", "ve", "edm", …).</summary>
    public abstract string Name { get; }

    /// <summary>Smallest time of the process.</summary>
    public abstract double TMin { get; }

    /// <summary>Largest time of the process.</summary>
    public abstract double TMax { get; }

    /// <summary>σ(t).</summary>
    public abstract double Sigma(double t);

    /// <summary>σ'(t).</summary>
    public abstract double SigmaDeriv(double t);

    /// <summary>σ⁻¹: the time at which the noise level is <paramref name="sigma"/>.</summary>
    public abstract double SigmaInv(double sigma);

    /// <summary>s(t).</summary>
    public abstract double Scale(double t);

    /// <summary>s'(t).</summary>
    public abstract double ScaleDeriv(double t);
}

/// <summary>
/// Song et al.'s variance-preserving process with a linear β(t) = β_min + β_d·t (DDPM's continuous
/// limit): σ(t) = √(exp(β_d t²/2 + β_min t) − 1), s(t) = 1/√(1 + σ²) (EDM Table 1).
/// </summary>
public sealed class VpSchedule(double betaD = 19.9, double betaMin = 0.1, double epsT = 1e-5) : Schedule
{
    /// <inheritdoc />
    public override string Name => "vp";
    /// <inheritdoc />
    public override double TMin => epsT;
    /// <inheritdoc />
    public override double TMax => 1;
    /// <summary>β_d.</summary>
    public double BetaD => betaD;
    /// <summary>β_min.</summary>
    public double BetaMin => betaMin;
    /// <summary>β(t) = β_min + β_d·t.</summary>
    public double Beta(double t) => betaMin + betaD * t;
    /// <inheritdoc />
    public override double Sigma(double t) => Math.Sqrt(PreciseMath.Expm1(0.5 * betaD * t * t + betaMin * t));
    /// <inheritdoc />
    public override double SigmaDeriv(double t) { double s = Sigma(t); return 0.5 * (betaMin + betaD * t) * (s + 1 / s); }
    /// <inheritdoc />
    public override double SigmaInv(double sigma) => (Math.Sqrt(betaMin * betaMin + 2 * betaD * Math.Log(1 + sigma * sigma)) - betaMin) / betaD;
    /// <inheritdoc />
    public override double Scale(double t) { double s = Sigma(t); return 1 / Math.Sqrt(1 + s * s); }
    /// <inheritdoc />
    public override double ScaleDeriv(double t) { double s = Sigma(t), sc = Scale(t); return -s * SigmaDeriv(t) * sc * sc * sc; }
}

/// <summary>
/// Song et al.'s sub-VP process: the VP drift with diffusion g² = β(t)(1 − e^{−2B(t)}), B = ∫β; its
/// marginal has mean e^{−B/2}x₀ and std 1 − e^{−B}, so s = e^{−B/2} and σ = (1 − e^{−B})·e^{B/2} = 2 sinh(B/2).
/// </summary>
public sealed class SubVpSchedule(double betaD = 19.9, double betaMin = 0.1, double epsT = 1e-5) : Schedule
{
    private double B(double t) => betaMin * t + 0.5 * betaD * t * t;
    /// <inheritdoc />
    public override string Name => "subvp";
    /// <inheritdoc />
    public override double TMin => epsT;
    /// <inheritdoc />
    public override double TMax => 1;
    /// <inheritdoc />
    public override double Sigma(double t) => 2 * Math.Sinh(B(t) / 2);
    /// <inheritdoc />
    public override double SigmaDeriv(double t) => Math.Cosh(B(t) / 2) * (betaMin + betaD * t);
    /// <inheritdoc />
    public override double SigmaInv(double sigma)
    {
        double b = 2 * Math.Asinh(sigma / 2);
        return (Math.Sqrt(betaMin * betaMin + 2 * betaD * b) - betaMin) / betaD;
    }
    /// <inheritdoc />
    public override double Scale(double t) => Math.Exp(-B(t) / 2);
    /// <inheritdoc />
    public override double ScaleDeriv(double t) => -0.5 * (betaMin + betaD * t) * Scale(t);
}

/// <summary>Song et al.'s variance-exploding process: σ(t) = σ_min·(σ_max/σ_min)^t, s = 1 (SMLD/NCSN).</summary>
public sealed class VeSchedule(double sigmaMin = 0.02, double sigmaMax = 100) : Schedule
{
    /// <inheritdoc />
    public override string Name => "ve";
    /// <inheritdoc />
    public override double TMin => 0;
    /// <inheritdoc />
    public override double TMax => 1;
    /// <inheritdoc />
    public override double Sigma(double t) => sigmaMin * Math.Pow(sigmaMax / sigmaMin, t);
    /// <inheritdoc />
    public override double SigmaDeriv(double t) => Sigma(t) * Math.Log(sigmaMax / sigmaMin);
    /// <inheritdoc />
    public override double SigmaInv(double sigma) => Math.Log(sigma / sigmaMin) / Math.Log(sigmaMax / sigmaMin);
    /// <inheritdoc />
    public override double Scale(double t) => 1;
    /// <inheritdoc />
    public override double ScaleDeriv(double t) => 0;
}

/// <summary>EDM's reparameterisation of VE (Table 1, "VE" column): σ(t) = √t, s = 1.</summary>
public sealed class VeSqrtSchedule(double sigmaMin = 0.02, double sigmaMax = 100) : Schedule
{
    /// <inheritdoc />
    public override string Name => "ve-sqrt";
    /// <inheritdoc />
    public override double TMin => sigmaMin * sigmaMin;
    /// <inheritdoc />
    public override double TMax => sigmaMax * sigmaMax;
    /// <inheritdoc />
    public override double Sigma(double t) => Math.Sqrt(t);
    /// <inheritdoc />
    public override double SigmaDeriv(double t) => 0.5 / Math.Sqrt(t);
    /// <inheritdoc />
    public override double SigmaInv(double sigma) => sigma * sigma;
    /// <inheritdoc />
    public override double Scale(double t) => 1;
    /// <inheritdoc />
    public override double ScaleDeriv(double t) => 0;
}

/// <summary>EDM's own choice (Karras et al. §3): σ(t) = t, s = 1.</summary>
public sealed class EdmSchedule(double sigmaMin = 0.002, double sigmaMax = 80) : Schedule
{
    /// <inheritdoc />
    public override string Name => "edm";
    /// <inheritdoc />
    public override double TMin => sigmaMin;
    /// <inheritdoc />
    public override double TMax => sigmaMax;
    /// <inheritdoc />
    public override double Sigma(double t) => t;
    /// <inheritdoc />
    public override double SigmaDeriv(double t) => 1;
    /// <inheritdoc />
    public override double SigmaInv(double sigma) => sigma;
    /// <inheritdoc />
    public override double Scale(double t) => 1;
    /// <inheritdoc />
    public override double ScaleDeriv(double t) => 0;
}

/// <summary>
/// Rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022): x_t = (1 − t)·x₀ + t·ε, so
/// s(t) = 1 − t and σ(t) = t/(1 − t).
/// </summary>
public sealed class RectifiedFlowSchedule(double tMin = 1e-4, double tMax = 1 - 1e-4) : Schedule
{
    /// <inheritdoc />
    public override string Name => "flow";
    /// <inheritdoc />
    public override double TMin => tMin;
    /// <inheritdoc />
    public override double TMax => tMax;
    /// <inheritdoc />
    public override double Sigma(double t) => t / (1 - t);
    /// <inheritdoc />
    public override double SigmaDeriv(double t) => 1 / ((1 - t) * (1 - t));
    /// <inheritdoc />
    public override double SigmaInv(double sigma) => sigma / (1 + sigma);
    /// <inheritdoc />
    public override double Scale(double t) => 1 - t;
    /// <inheritdoc />
    public override double ScaleDeriv(double t) => -1;
}

/// <summary>
/// The improved-DDPM cosine schedule as a continuous VP process (Nichol and Dhariwal 2021 eq. 17):
/// ᾱ(t) = f(t)/f(0), f(t) = cos²((t + s)/(1 + s)·π/2), s = 0.008; σ = √(1/ᾱ − 1), scale √ᾱ.
/// </summary>
public sealed class CosineSchedule(double offset = 0.008, double tMax = 0.9946) : Schedule
{
    private double F(double t) => Math.Pow(Math.Cos((t + offset) / (1 + offset) * Math.PI / 2), 2);
    private double AlphaBar(double t) => F(t) / F(0);
    /// <inheritdoc />
    public override string Name => "cosine";
    /// <inheritdoc />
    public override double TMin => 0;
    /// <inheritdoc />
    public override double TMax => tMax;
    /// <inheritdoc />
    public override double Sigma(double t) => Math.Sqrt(1 / AlphaBar(t) - 1);
    /// <inheritdoc />
    public override double SigmaDeriv(double t)
    {
        double k = Math.PI / (2 * (1 + offset)), th = (t + offset) * k;
        // ᾱ' = −2k·cos·sin/f(0); σ' = −ᾱ'/(2ᾱ²σ)
        double ab = AlphaBar(t), dab = -2 * k * Math.Cos(th) * Math.Sin(th) / F(0);
        return -dab / (2 * ab * ab * Sigma(t));
    }
    /// <inheritdoc />
    public override double SigmaInv(double sigma)
    {
        double ab = 1 / (1 + sigma * sigma);
        return Math.Acos(Math.Sqrt(ab * F(0))) * 2 * (1 + offset) / Math.PI - offset;
    }
    /// <inheritdoc />
    public override double Scale(double t) => Math.Sqrt(AlphaBar(t));
    /// <inheritdoc />
    public override double ScaleDeriv(double t) { double s = Sigma(t), sc = Scale(t); return -s * SigmaDeriv(t) * sc * sc * sc; }
}
