namespace Tessera.Positional;

/// <summary>Which channels RoPE rotates together.</summary>
public enum RopePairing
{
    /// <summary>Pairs (2i, 2i + 1): the RoFormer paper (eq. 34) and Meta's LLaMA code.</summary>
    Interleaved,
    /// <summary>Pairs (i, i + d/2): GPT-NeoX and Hugging Face's LLaMA ("rotate_half").</summary>
    HalfSplit,
}

/// <summary>RoPE's frequency scaling, Hugging Face's <c>rope_type</c> (names as there, <see cref="EnumNames"/>).</summary>
public enum RopeType
{
    /// <summary>No scaling.</summary>
    Default,
    /// <summary>Position interpolation (Chen et al. 2023).</summary>
    Linear,
    /// <summary>NTK-aware base change (bloc97, 2023).</summary>
    Ntk,
    /// <summary>Dynamic NTK (Hugging Face).</summary>
    Dynamic,
    /// <summary>YaRN (Peng et al. 2023).</summary>
    Yarn,
    /// <summary>Llama 3's frequency-dependent interpolation.</summary>
    Llama3,
}

/// <summary>
/// RoPE settings, named as in Hugging Face configs so that they carry over: <c>rope_theta</c> (Base),
/// <c>rope_scaling</c> = {<c>rope_type</c>, <c>factor</c>, <c>original_max_position_embeddings</c>,
/// <c>beta_fast</c>, <c>beta_slow</c>, <c>low_freq_factor</c>, <c>high_freq_factor</c>, <c>attention_factor</c>,
/// <c>mscale</c>, <c>mscale_all_dim</c>, <c>truncate</c>}, <c>partial_rotary_factor</c>.
/// rope_type is one of default, linear, ntk (NTK-aware base change), dynamic (dynamic NTK), yarn, llama3.
/// </summary>
public sealed record RopeConfig
{
    /// <summary>Per-head dimension d.</summary>
    public int HeadDim { get; init; }
    /// <summary>rope_theta.</summary>
    public double Base { get; init; } = 10000;
    /// <summary>partial_rotary_factor: the first ⌊d·f⌋ channels rotate, the rest pass through.</summary>
    public double PartialRotaryFactor { get; init; } = 1;
    /// <summary>rope_type.</summary>
    public RopeType RopeType { get; init; } = RopeType.Default;
    /// <summary>factor (scale s ≥ 1).</summary>
    public double Factor { get; init; } = 1;
    /// <summary>original_max_position_embeddings (the pre-training context L).</summary>
    public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>beta_fast (YaRN, default 32).</summary>
    public double BetaFast { get; init; } = 32;
    /// <summary>beta_slow (YaRN, default 1).</summary>
    public double BetaSlow { get; init; } = 1;
    /// <summary>low_freq_factor (Llama 3).</summary>
    public double LowFreqFactor { get; init; } = 1;
    /// <summary>high_freq_factor (Llama 3).</summary>
    public double HighFreqFactor { get; init; } = 4;
    /// <summary>attention_factor (YaRN); null for 0.1·ln(s) + 1.</summary>
    public double? AttentionFactor { get; init; }
    /// <summary>mscale (YaRN, DeepSeek form).</summary>
    public double? Mscale { get; init; }
    /// <summary>mscale_all_dim (YaRN, DeepSeek form).</summary>
    public double? MscaleAllDim { get; init; }
    /// <summary>truncate (YaRN): round the correction range outward.</summary>
    public bool Truncate { get; init; } = true;

    /// <summary>The known rope_type values.</summary>
    public static IReadOnlyList<string> Types => EnumNames.Names<RopeType>();

    /// <summary>Number of rotated channels.</summary>
    public int RotaryDim => (int)(HeadDim * PartialRotaryFactor);

    /// <summary>Checks the settings; messages name the parameter.</summary>
    public void Validate()
    {
        if (HeadDim < 2) throw new TesseraUserException(nameof(HeadDim), $"head_dim must be at least 2, got {HeadDim}");
        if (RotaryDim % 2 != 0 || RotaryDim < 2) throw new TesseraUserException(nameof(PartialRotaryFactor), $"head_dim × partial_rotary_factor = {RotaryDim} must be even and at least 2 for RoPE (head_dim {HeadDim})");
        if (!(PartialRotaryFactor > 0 && PartialRotaryFactor <= 1)) throw new TesseraUserException(nameof(PartialRotaryFactor), $"partial_rotary_factor must be in (0, 1], got {PartialRotaryFactor}");
        if (!Enum.IsDefined(RopeType)) throw new TesseraUserException(nameof(RopeType), $"rope_type {(int)RopeType} is not known; expected one of {string.Join(", ", Types)}");
        if (RopeType != RopeType.Default && !(Factor >= 1)) throw new TesseraUserException(nameof(Factor), $"factor must be at least 1 for rope_type {EnumNames.Name(RopeType)}, got {Factor}");
        if (!(Base > 1)) throw new TesseraUserException(nameof(Base), $"rope_theta must be greater than 1, got {Base}");
        if (RopeType is RopeType.Yarn or RopeType.Llama3 or RopeType.Dynamic && OriginalMaxPositionEmbeddings is null)
            throw new TesseraUserException(nameof(OriginalMaxPositionEmbeddings), $"original_max_position_embeddings is required for rope_type {EnumNames.Name(RopeType)}");
    }
}

/// <summary>
/// Rotary position embedding (Su et al., RoFormer, eq. 14–16 and 34): channel pair i of a query or key at
/// position m is rotated by angle m·θᵢ, θᵢ = base^(−2i/d), so that ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on
/// n − m only. Frequencies and cos/sin are computed in float64 and applied in the activations' dtype.
/// </summary>
public static class Rope
{
    /// <summary>
    /// Inverse frequencies θᵢ [d_rot/2] after the configured scaling, and the attention factor (the
    /// scale YaRN applies to cos/sin; 1 otherwise). <paramref name="sequenceLength"/> drives dynamic NTK.
    /// </summary>
    public static (double[] InvFreq, double AttentionFactor) InverseFrequencies(RopeConfig c, long sequenceLength = 0)
    {
        c.Validate();
        int dim = c.RotaryDim;
        double[] Base(double b) => Enumerable.Range(0, dim / 2).Select(i => 1.0 / Math.Pow(b, 2.0 * i / dim)).ToArray();
        switch (c.RopeType)
        {
            case RopeType.Default:
                return (Base(c.Base), 1);
            case RopeType.Linear:
                // Position interpolation (Chen et al. 2023): m → m/s.
                return (Base(c.Base).Select(f => f / c.Factor).ToArray(), 1);
            case RopeType.Ntk:
                // NTK-aware base change (bloc97, 2023): base' = base·s^(d/(d−2)).
                return (Base(c.Base * Math.Pow(c.Factor, dim / (dim - 2.0))), 1);
            case RopeType.Dynamic:
                {
                    // Dynamic NTK (Hugging Face): grow base with the current length beyond L.
                    double L = c.OriginalMaxPositionEmbeddings!.Value;
                    if (sequenceLength <= L) return (Base(c.Base), 1);
                    double b = c.Base * Math.Pow(c.Factor * sequenceLength / L - (c.Factor - 1), dim / (dim - 2.0));
                    return (Base(b), 1);
                }
            case RopeType.Yarn:
                return Yarn(c, dim);
            default:
                return (Llama3(c, Base(c.Base)), 1);
        }
    }

    /// <summary>YaRN (Peng et al. 2023): interpolate low frequencies, keep high ones, blend by a linear ramp over the correction range; attention factor 0.1·ln(s) + 1.</summary>
    private static (double[], double) Yarn(RopeConfig c, int dim)
    {
        double s = c.Factor, b = c.Base, L = c.OriginalMaxPositionEmbeddings!.Value;
        static double MScale(double scale, double m = 1) => scale <= 1 ? 1 : 0.1 * m * Math.Log(scale) + 1;
        double attention = c.AttentionFactor
            ?? (c.Mscale is double ms && c.MscaleAllDim is double mad && mad != 0 ? MScale(s, ms) / MScale(s, mad) : MScale(s));
        // Dimension whose wavelength makes `rotations` turns over L: d·ln(L/(2π·rotations))/(2 ln b).
        double CorrectionDim(double rotations) => dim * Math.Log(L / (rotations * 2 * Math.PI)) / (2 * Math.Log(b));
        double low = CorrectionDim(c.BetaFast), high = CorrectionDim(c.BetaSlow);
        if (c.Truncate) { low = Math.Floor(low); high = Math.Ceiling(high); }
        low = Math.Max(low, 0);
        high = Math.Min(high, dim - 1);
        if (low == high) high += 0.001;
        var inv = new double[dim / 2];
        for (int i = 0; i < dim / 2; i++)
        {
            double posFreq = Math.Pow(b, 2.0 * i / dim);
            double extrapolation = 1 / posFreq, interpolation = 1 / (s * posFreq);
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double keep = 1 - ramp; // 1 where the dimension rotates fast enough to be extrapolated as is
            inv[i] = interpolation * (1 - keep) + extrapolation * keep;
        }
        return (inv, attention);
    }

    /// <summary>Llama 3.1's frequency scaling: wavelengths above L/low_freq_factor are divided by s, below L/high_freq_factor kept, smoothly blended between.</summary>
    private static double[] Llama3(RopeConfig c, double[] inv)
    {
        double s = c.Factor, L = c.OriginalMaxPositionEmbeddings!.Value;
        double lowWave = L / c.LowFreqFactor, highWave = L / c.HighFreqFactor;
        return inv.Select(f =>
        {
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWave) return f;
            if (wavelen > lowWave) return f / s;
            double smooth = (L / wavelen - c.LowFreqFactor) / (c.HighFreqFactor - c.LowFreqFactor);
            return (1 - smooth) * f / s + smooth * f;
        }).ToArray();
    }

    /// <summary>
    /// cos and sin tables [T, d_rot] for positions [T] (any offset, e.g. a KV-cache position), laid out for
    /// <paramref name="pairing"/>, scaled by the attention factor, in float64 then cast to <paramref name="dtype"/>.
    /// </summary>
    public static (torch.Tensor Cos, torch.Tensor Sin) CosSin(double[] invFreq, torch.Tensor positions, RopePairing pairing, double attentionFactor = 1, torch.ScalarType dtype = torch.ScalarType.Float32)
    {
        using var scope = torch.NewDisposeScope();
        var inv = torch.tensor(invFreq, dtype: torch.ScalarType.Float64, device: positions.device);
        var angles = positions.to(torch.ScalarType.Float64).unsqueeze(1) * inv.unsqueeze(0);   // [T, d/2]
        var full = pairing == RopePairing.HalfSplit ? torch.cat([angles, angles], 1) : angles.repeat_interleave(2, 1);
        var cos = (full.cos() * attentionFactor).to(dtype).MoveToOuterDisposeScope();
        var sin = (full.sin() * attentionFactor).to(dtype).MoveToOuterDisposeScope();
        return (cos, sin);
    }

    /// <summary>
    /// Rotates the first d_rot channels of x [..., T, d] by the tables [T, d_rot] (broadcast over leading
    /// dimensions); channels beyond d_rot pass through (partial rotary).
    /// </summary>
    public static torch.Tensor Apply(torch.Tensor x, torch.Tensor cos, torch.Tensor sin, RopePairing pairing)
    {
        long rot = cos.shape[^1], d = x.shape[^1];
        if (rot > d || rot % 2 != 0) throw new TesseraUserException("cos", $"rotary dim {rot} must be even and at most the head dim {d}");
        using var scope = torch.NewDisposeScope();
        var xr = rot == d ? x : x.narrow(-1, 0, rot);
        torch.Tensor rotated = pairing == RopePairing.HalfSplit
            ? xr * cos + RotateHalf(xr) * sin
            : xr * cos + RotatePairs(xr) * sin;
        var result = rot == d ? rotated : torch.cat([rotated, x.narrow(-1, rot, d - rot)], -1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>(x₁, x₂) → (−x₂, x₁) over the two halves (GPT-NeoX's rotate_half).</summary>
    public static torch.Tensor RotateHalf(torch.Tensor x)
    {
        long h = x.shape[^1] / 2;
        return torch.cat([-x.narrow(-1, h, h), x.narrow(-1, 0, h)], -1);
    }

    /// <summary>(x₀, x₁, x₂, x₃, …) → (−x₁, x₀, −x₃, x₂, …) (the RoFormer paper's pairing).</summary>
    public static torch.Tensor RotatePairs(torch.Tensor x)
    {
        var shape = x.shape;
        var pairs = x.reshape([.. shape[..^1], shape[^1] / 2, 2]);
        return torch.stack([-pairs.select(-1, 1), pairs.select(-1, 0)], -1).reshape(shape);
    }

    /// <summary>
    /// Reorders the output rows of a q or k projection weight [H·d, d_model] (or bias [H·d]) from the
    /// interleaved pairing to the half-split one, head by head (the permutation of Hugging Face's LLaMA
    /// conversion script): rows (0, 2, 4, …, 1, 3, 5, …) within each head.
    /// </summary>
    public static torch.Tensor InterleavedToHalfSplit(torch.Tensor weight, int heads)
    {
        long rows = weight.shape[0], d = rows / heads;
        var rest = weight.shape[1..];
        return weight.reshape([heads, d / 2, 2, .. rest]).transpose(1, 2).reshape([rows, .. rest]);
    }

    /// <summary>The inverse of <see cref="InterleavedToHalfSplit"/>.</summary>
    public static torch.Tensor HalfSplitToInterleaved(torch.Tensor weight, int heads)
    {
        long rows = weight.shape[0], d = rows / heads;
        var rest = weight.shape[1..];
        return weight.reshape([heads, 2, d / 2, .. rest]).transpose(1, 2).reshape([rows, .. rest]);
    }
}
