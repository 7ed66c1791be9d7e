namespace Tessera.Positional;

/// <summary>
/// 2-D rotary embeddings for image tokens (Heo et al. 2024, "Rotary Position Embedding for Vision
/// Transformer"). Both produce rotation angles [.., T, d/2] for tokens at grid positions (x, y), applied with
/// the interleaved pairing (<see cref="Rope.CosSin"/> layout, via <see cref="FromAngles"/>).
/// </summary>
public static class Rope2D
{
    /// <summary>
    /// RoPE-Axial (eq. 12): the first d/4 channel pairs rotate with the column x, the next d/4 with the row y,
    /// θᵢ = base^(−4i/d), i &lt; d/4. <paramref name="positions"/> is [T, 2] of (x, y).
    /// </summary>
    public static torch.Tensor AxialAngles(torch.Tensor positions, int headDim, double @base = 100)
    {
        if (headDim % 4 != 0) throw new TesseraUserException(nameof(headDim), $"head_dim must be a multiple of 4 for axial 2-D RoPE, got {headDim}");
        using var scope = torch.NewDisposeScope();
        var theta = torch.pow(@base, -torch.arange(0, headDim / 4, dtype: torch.ScalarType.Float64, device: positions.device) * (4.0 / headDim));
        var p = positions.to(torch.ScalarType.Float64);
        var ax = p[.., 0].unsqueeze(1) * theta.unsqueeze(0);
        var ay = p[.., 1].unsqueeze(1) * theta.unsqueeze(0);
        return torch.cat([ax, ay], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Grid positions (x, y) of an H × W token grid in row-major order, [H·W, 2].</summary>
    public static torch.Tensor GridPositions(int height, int width, torch.Device? device = null)
    {
        using var scope = torch.NewDisposeScope();
        var ys = torch.arange(height, dtype: torch.ScalarType.Float64, device: device).repeat_interleave(width);
        var xs = torch.arange(width, dtype: torch.ScalarType.Float64, device: device).repeat(height);
        return torch.stack([xs, ys], 1).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin tables (interleaved layout) from angles [.., T, d/2].</summary>
    public static (torch.Tensor Cos, torch.Tensor Sin) FromAngles(torch.Tensor angles, torch.ScalarType dtype = torch.ScalarType.Float32)
    {
        using var scope = torch.NewDisposeScope();
        var full = angles.repeat_interleave(2, -1);
        return (full.cos().to(dtype).MoveToOuterDisposeScope(), full.sin().to(dtype).MoveToOuterDisposeScope());
    }
}

/// <summary>
/// RoPE-Mixed (Heo et al. 2024, eq. 13): learnable frequencies per head and channel pair, angle = x·f_x + y·f_y,
/// so that heads can attend along diagonal directions. Initialised as in the paper: magnitudes base^(−4i/d)
/// for two orthogonal directions rotated by a random angle per head.
/// </summary>
public sealed class MixedRope2D : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Parameter freqs; // [2, H, d/2]

    /// <summary>Creates the frequencies for <paramref name="heads"/> heads of width <paramref name="headDim"/>.</summary>
    public MixedRope2D(int heads, int headDim, double @base = 10, torch.Generator? generator = null) : base(nameof(MixedRope2D))
    {
        if (headDim % 4 != 0) throw new TesseraUserException(nameof(headDim), $"head_dim must be a multiple of 4 for mixed 2-D RoPE, got {headDim}");
        using var scope = torch.NewDisposeScope();
        var mag = torch.pow(@base, -torch.arange(0, headDim / 4, dtype: torch.ScalarType.Float64) * (4.0 / headDim));
        var angle = torch.rand([heads, 1], torch.ScalarType.Float64, generator: generator) * (2 * Math.PI);
        var fx = torch.cat([mag * angle.cos(), mag * (angle + Math.PI / 2).cos()], 1);
        var fy = torch.cat([mag * angle.sin(), mag * (angle + Math.PI / 2).sin()], 1);
        freqs = new Parameter(torch.stack([fx, fy]).to(torch.ScalarType.Float32).MoveToOuterDisposeScope());
        RegisterComponents();
    }

    /// <summary>Angles [H, T, d/2] for positions [T, 2].</summary>
    public override torch.Tensor forward(torch.Tensor positions)
    {
        var p = positions.to(freqs.dtype);
        // angle[h, t, i] = x_t·f_x[h, i] + y_t·f_y[h, i]
        return p[.., 0].view(1, -1, 1) * freqs[0].unsqueeze(1) + p[.., 1].view(1, -1, 1) * freqs[1].unsqueeze(1);
    }
}
