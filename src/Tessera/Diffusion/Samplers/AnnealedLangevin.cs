using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Annealed Langevin dynamics (Song and Ermon 2019, NCSN Algorithm 1): for each σᵢ, T steps of
/// x ← x + (αᵢ/2)·∇log p(x; σᵢ) + √αᵢ·z with αᵢ = ε·σᵢ²/σ_L²; then one denoising step x ← D(x; σ_L).
/// The default ε keeps NCSN's ratio ε/σ_L² = 2·10⁻⁵/0.01² = 0.2 whatever σ_L is (a fixed ε diverges when
/// σ_L is small: the update is stable only for ε/σ_L² &lt; 2).
/// </summary>
public static class AnnealedLangevin
{
    /// <summary>Samples over the grid's non-zero σ's; T evaluations per level plus one.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, int stepsPerLevel = 5, double epsilon = double.NaN, Action<SamplerStep>? callback = null)
    {
        SigmaGrids.Check(sigmas);
        var levels = sigmas.Where(v => v > 0).ToArray();
        double last = levels[^1];
        if (double.IsNaN(epsilon)) epsilon = 0.2 * last * last;
        var cur = x.alias();
        for (int i = 0; i < levels.Length; i++)
        {
            double s = levels[i], alpha = epsilon * s * s / (last * last);
            for (int t = 0; t < stepsPerLevel; t++)
            {
                using var scope = torch.NewDisposeScope();
                var denoised = model(cur, s);
                if (t == 0) callback?.Invoke(new SamplerStep(i, s, i + 1 < levels.Length ? levels[i + 1] : 0, cur, denoised));
                var next = cur.Plus((denoised - cur).Over(s * s).Times(alpha / 2)).Plus(noise.Next(cur).Times(Math.Sqrt(alpha)));
                cur.Dispose();
                cur = next.MoveToOuterDisposeScope();
            }
        }
        var final = model(cur, last);
        cur.Dispose();
        return final;
    }
}
