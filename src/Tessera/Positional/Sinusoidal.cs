namespace Tessera.Positional;

/// <summary>Channel layout of sinusoidal encodings.</summary>
public enum SinusoidLayout
{
    /// <summary>PE[p, 2i] = sin(p·ωᵢ), PE[p, 2i+1] = cos(p·ωᵢ) (Vaswani et al. 2017, §3.5; tensor2tensor's original, fairseq's "interleaved").</summary>
    Interleaved,
    /// <summary>PE[p, i] = sin(p·ωᵢ), PE[p, d/2 + i] = cos(p·ωᵢ) ([sin ‖ cos], as tensor2tensor's get_timing_signal and Transformer-XL).</summary>
    Concatenated,

    /// <summary>PE[p, i] = cos(p·ωᵢ), PE[p, d/2 + i] = sin(p·ωᵢ) ([cos ‖ sin], DDPM's and guided-diffusion's timestep embedding).</summary>
    CosineFirst,
}

/// <summary>How a positional table joins the token embeddings.</summary>
public enum PositionMerge
{
    /// <summary>x + p (the usual).</summary>
    Add,
    /// <summary>x ⊙ p (multiplicative, Su's survey §1.5).</summary>
    Multiply,
}

/// <summary>Sinusoidal position tables (Vaswani et al. 2017, eq. in §3.5): ωᵢ = base^(−2i/d).</summary>
public static class Sinusoidal
{
    /// <summary>The table [length, dim] for positions offset … offset + length − 1, computed in float64 then cast.</summary>
    public static torch.Tensor Table(long length, int dim, SinusoidLayout layout = SinusoidLayout.Interleaved, double @base = 10000, long offset = 0, torch.ScalarType dtype = torch.ScalarType.Float32, torch.Device? device = null)
    {
        if (dim < 2 || dim % 2 != 0) throw new TesseraUserException(nameof(dim), $"dim must be even and at least 2, got {dim}");
        return Table(torch.arange(offset, offset + length, dtype: torch.ScalarType.Float64, device: device), dim, layout, @base, dtype);
    }

    /// <summary>The table for arbitrary (possibly fractional or negative) positions [n] → [n, dim].</summary>
    public static torch.Tensor Table(torch.Tensor positions, int dim, SinusoidLayout layout = SinusoidLayout.Interleaved, double @base = 10000, torch.ScalarType dtype = torch.ScalarType.Float32)
    {
        if (dim < 2 || dim % 2 != 0) throw new TesseraUserException(nameof(dim), $"dim must be even and at least 2, got {dim}");
        using var scope = torch.NewDisposeScope();
        var omega = torch.pow(@base, -torch.arange(0, dim / 2, dtype: torch.ScalarType.Float64, device: positions.device) * (2.0 / dim));
        var angles = positions.to(torch.ScalarType.Float64).unsqueeze(1) * omega.unsqueeze(0);   // [n, d/2]
        var table = layout switch
        {
            SinusoidLayout.Interleaved => torch.stack([angles.sin(), angles.cos()], -1).reshape(positions.shape[0], dim),
            SinusoidLayout.CosineFirst => torch.cat([angles.cos(), angles.sin()], 1),
            _ => torch.cat([angles.sin(), angles.cos()], 1),
        };
        return table.to(dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>Adds (or multiplies) a fixed sinusoidal table to [B, T, d] inputs.</summary>
public sealed class SinusoidalPositionalEncoding : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly int _dim;
    private readonly SinusoidLayout _layout;
    private readonly PositionMerge _merge;
    private readonly double _base;

    /// <summary>Creates the encoding for model width <paramref name="dim"/>.</summary>
    public SinusoidalPositionalEncoding(int dim, SinusoidLayout layout = SinusoidLayout.Interleaved, PositionMerge merge = PositionMerge.Add, double @base = 10000)
        : base(nameof(SinusoidalPositionalEncoding))
    {
        if (dim < 2 || dim % 2 != 0) throw new TesseraUserException(nameof(dim), $"dim must be even and at least 2, got {dim}");
        (_dim, _layout, _merge, _base) = (dim, layout, merge, @base);
    }

    /// <summary>Encodes positions offset … offset + T − 1.</summary>
    public torch.Tensor forward(torch.Tensor x, long offset)
    {
        using var table = Sinusoidal.Table(x.shape[^2], _dim, _layout, _base, offset, x.dtype, x.device);
        return _merge == PositionMerge.Add ? x + table : x * table;
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => forward(x, 0);
}

/// <summary>A learned absolute position table (BERT, GPT-2): row p is added to (or multiplies) token p.</summary>
public sealed class LearnedPositionalEmbedding : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Embedding table;
    private readonly PositionMerge _merge;

    /// <summary>Longest sequence the table covers.</summary>
    public long MaxLength { get; }

    /// <summary>Creates a table of <paramref name="maxLength"/> rows of width <paramref name="dim"/>.</summary>
    public LearnedPositionalEmbedding(long maxLength, long dim, PositionMerge merge = PositionMerge.Add) : base(nameof(LearnedPositionalEmbedding))
    {
        if (maxLength < 1) throw new TesseraUserException(nameof(maxLength), $"maxLength must be at least 1, got {maxLength}");
        MaxLength = maxLength;
        _merge = merge;
        table = torch.nn.Embedding(maxLength, dim);
        using (torch.no_grad()) table.weight!.normal_(0, 0.02);
        RegisterComponents();
    }

    /// <summary>Encodes positions offset … offset + T − 1 of [B, T, d] inputs.</summary>
    /// <exception cref="TesseraUserException">The sequence runs past the table (parameter <c>x</c>).</exception>
    public torch.Tensor forward(torch.Tensor x, long offset)
    {
        long t = x.shape[^2];
        if (offset + t > MaxLength)
            throw new TesseraUserException("x", $"sequence length: positions up to {offset + t - 1} but the learned table has {MaxLength} rows (maxLength)");
        using var idx = torch.arange(offset, offset + t, device: x.device);
        using var p = table.forward(idx);
        return _merge == PositionMerge.Add ? x + p : x * p;
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => forward(x, 0);
}
