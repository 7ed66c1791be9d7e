namespace Tessera.Diffusion.Schedules;

/// <summary>β schedules of discrete DDPM-family models.</summary>
public enum BetaSchedule
{
    /// <summary>Linear β from 1e-4 to 0.02 (Ho et al. 2020).</summary>
    Linear,
    /// <summary>√β linear, squared (Stable Diffusion's "scaled_linear", 0.00085 to 0.012).</summary>
    ScaledLinear,
    /// <summary>Nichol and Dhariwal's cosine ᾱ with β clipped at 0.999.</summary>
    Cosine,
}

/// <summary>Timestep spacings of diffusers' schedulers.</summary>
public enum TimestepSpacing
{
    /// <summary>Evenly from T − 1 to 0 including both, rounded.</summary>
    Linspace,
    /// <summary>Multiples of T/n from 0, reversed (DDIM's original).</summary>
    Leading,
    /// <summary>From T down in steps of T/n, minus one.</summary>
    Trailing,
}

/// <summary>
/// A discrete DDPM model's table ᾱ₀ … ᾱ_{T−1} (ᾱₜ = Πᵢ≤ₜ(1 − βᵢ)) and its noise levels σₜ = √((1 − ᾱₜ)/ᾱₜ),
/// with optional zero-terminal-SNR rescaling (Lin et al. 2024, Algorithm 1).
/// </summary>
public sealed class DiscreteSchedule
{
    /// <summary>ᾱ per timestep.</summary>
    public double[] AlphasCumprod { get; }

    /// <summary>Number of timesteps T.</summary>
    public int T => AlphasCumprod.Length;

    /// <summary>Builds the table from a β schedule.</summary>
    public DiscreteSchedule(BetaSchedule schedule = BetaSchedule.Linear, int timesteps = 1000, double betaStart = double.NaN, double betaEnd = double.NaN, bool zeroTerminalSnr = false)
    {
        if (timesteps < 2) throw new TesseraUserException(nameof(timesteps), "at least two timesteps");
        double[] betas = schedule switch
        {
            BetaSchedule.Linear => Grids.SigmaGrids.Linspace(double.IsNaN(betaStart) ? 1e-4 : betaStart, double.IsNaN(betaEnd) ? 0.02 : betaEnd, timesteps),
            BetaSchedule.ScaledLinear => Grids.SigmaGrids.Linspace(Math.Sqrt(double.IsNaN(betaStart) ? 0.00085 : betaStart), Math.Sqrt(double.IsNaN(betaEnd) ? 0.012 : betaEnd), timesteps).Select(b => b * b).ToArray(),
            _ => CosineBetas(timesteps),
        };
        if (zeroTerminalSnr) betas = RescaleZeroTerminalSnr(betas);
        AlphasCumprod = new double[timesteps];
        double acc = 1;
        for (int t = 0; t < timesteps; t++) AlphasCumprod[t] = acc *= 1 - betas[t];
    }

    private static double[] CosineBetas(int n, double s = 0.008)
    {
        double F(double t) => Math.Pow(Math.Cos((t + s) / (1 + s) * Math.PI / 2), 2);
        return Enumerable.Range(0, n).Select(i => Math.Min(1 - F((i + 1.0) / n) / F((double)i / n), 0.999)).ToArray();
    }

    /// <summary>Lin et al.'s rescaling: shift and scale √ᾱ so that √ᾱ_{T−1} = 0 while √ᾱ₀ is kept.</summary>
    public static double[] RescaleZeroTerminalSnr(double[] betas)
    {
        int n = betas.Length;
        var sqrtAb = new double[n];
        double acc = 1;
        for (int t = 0; t < n; t++) sqrtAb[t] = Math.Sqrt(acc *= 1 - betas[t]);
        double first = sqrtAb[0], last = sqrtAb[^1];
        for (int t = 0; t < n; t++) sqrtAb[t] = (sqrtAb[t] - last) * first / (first - last);
        var result = new double[n];
        double prev = 1;
        for (int t = 0; t < n; t++)
        {
            double ab = sqrtAb[t] * sqrtAb[t];
            result[t] = 1 - ab / prev;
            prev = ab;
        }
        return result;
    }

    /// <summary>σₜ = √((1 − ᾱₜ)/ᾱₜ) (infinite where ᾱₜ = 0).</summary>
    public double Sigma(int t) => Math.Sqrt((1 - AlphasCumprod[t]) / AlphasCumprod[t]);

    /// <summary>The n timesteps diffusers would sample, in sampling (descending) order.</summary>
    public int[] Timesteps(int n, TimestepSpacing spacing, int stepsOffset = 0)
    {
        if (n < 1 || n > T) throw new TesseraUserException(nameof(n), $"1 to {T} steps");
        return spacing switch
        {
            TimestepSpacing.Linspace => Grids.SigmaGrids.Linspace(0, T - 1, n).Select(v => (int)Math.Round(v, MidpointRounding.ToEven)).Reverse().ToArray(),
            TimestepSpacing.Leading => Enumerable.Range(0, n).Select(i => i * (T / n) + stepsOffset).Reverse().ToArray(),
            _ => Enumerable.Range(0, n).Select(i => (int)Math.Round(T - i * ((double)T / n)) - 1).ToArray(),
        };
    }

    /// <summary>A σ-grid for those timesteps, ending with 0.</summary>
    public double[] SigmaGrid(int n, TimestepSpacing spacing) => [.. Timesteps(n, spacing).Select(Sigma), 0.0];
}
