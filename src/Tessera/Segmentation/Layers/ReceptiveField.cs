namespace Tessera.Segmentation.Layers;

/// <summary>A convolution or pooling layer as the receptive-field arithmetic sees it.</summary>
/// <param name="Kernel">Kernel size k.</param>
/// <param name="Stride">Stride s.</param>
/// <param name="Dilation">Dilation (atrous rate) r.</param>
public readonly record struct ConvSpec(int Kernel, int Stride = 1, int Dilation = 1)
{
    /// <summary>Effective kernel of a dilated convolution: k + (k − 1)(r − 1).</summary>
    public int EffectiveKernel => Kernel + (Kernel - 1) * (Dilation - 1);
}

/// <summary>Outcome of the hybrid-dilated-convolution check.</summary>
/// <param name="NoCommonFactor">The rates share no factor above 1.</param>
/// <param name="M2">Wang et al.'s M₂, the largest gap between non-zero taps seen by the second layer.</param>
/// <param name="Ok">Both conditions hold: no common factor and M₂ ≤ k.</param>
public readonly record struct HdcResult(bool NoCommonFactor, int M2, bool Ok);

/// <summary>
/// Receptive fields of stacked (atrous) convolutions, and the gridding check of hybrid dilated convolution
/// (Wang et al. 2018, "Understanding Convolution for Semantic Segmentation", §3.2).
/// </summary>
public static class ReceptiveField
{
    /// <summary>
    /// Receptive field of a stack: RF₀ = 1, RFₗ = RFₗ₋₁ + (k_eff,ₗ − 1)·Πᵢ&lt;ₗ sᵢ. Returns the field after every
    /// layer and the final jump (product of strides).
    /// </summary>
    public static (int[] PerLayer, int Jump) Compute(IEnumerable<ConvSpec> layers)
    {
        var fields = new List<int>();
        int rf = 1, jump = 1;
        foreach (ConvSpec l in layers)
        {
            if (l.Kernel < 1 || l.Stride < 1 || l.Dilation < 1) throw new TesseraUserException(nameof(layers), $"invalid layer {l}");
            rf += (l.EffectiveKernel - 1) * jump;
            jump *= l.Stride;
            fields.Add(rf);
        }
        return (fields.ToArray(), jump);
    }

    /// <summary>
    /// HDC check for a stack of k × k convolutions with rates r₁ … rₙ: Mₙ = rₙ,
    /// Mᵢ = max(Mᵢ₊₁ − 2rᵢ, Mᵢ₊₁ − 2(Mᵢ₊₁ − rᵢ), rᵢ); the design avoids gridding when M₂ ≤ k and the rates have
    /// no common factor above 1.
    /// </summary>
    public static HdcResult Hdc(IReadOnlyList<int> rates, int kernel = 3)
    {
        if (rates.Count < 2) throw new TesseraUserException(nameof(rates), "HDC needs at least two rates");
        int m = rates[^1];
        for (int i = rates.Count - 2; i >= 1; i--)
            m = Math.Max(Math.Max(m - 2 * rates[i], m - 2 * (m - rates[i])), rates[i]);
        int g = rates.Aggregate(Gcd);
        return new HdcResult(g == 1, m, g == 1 && m <= kernel);
    }

    /// <summary>
    /// The 1-D input offsets a stack of k-tap dilated convolutions reaches from one output (Σ rᵢ·oᵢ,
    /// oᵢ ∈ {−(k−1)/2 … (k−1)/2}). Gridding means holes in this set.
    /// </summary>
    public static SortedSet<int> Coverage(IReadOnlyList<int> rates, int kernel = 3)
    {
        var reach = new SortedSet<int> { 0 };
        int half = (kernel - 1) / 2;
        foreach (int r in rates)
        {
            var next = new SortedSet<int>();
            foreach (int p in reach)
                for (int o = -half; o <= half; o++) next.Add(p + o * r);
            reach = next;
        }
        return reach;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
