namespace Tessera.Positional;

/// <summary>
/// The 2-D sine encoding of DETR (Carion et al. 2020, "End-to-End Object Detection with Transformers", §3.2 and
/// appendix A.4) as SAM 2's <c>PositionEmbeddingSine</c> computes it: row and column indices 1…H and 1…W, optionally
/// normalised to (0, scale] by dividing by the last index (+10⁻⁶), each encoded by an interleaved sinusoidal table of
/// width d/2 (<see cref="Sinusoidal"/>, ωᵢ = temperature^(−2i/(d/2))); the row encoding fills the first d/2 channels,
/// the column encoding the last d/2.
/// </summary>
public static class SineGrid2D
{
    /// <summary>The encoding [dim, height, width] of an H × W grid (dim a multiple of 4).</summary>
    public static torch.Tensor Table(int height, int width, int dim, double temperature = 10000, bool normalize = true, double scale = 2 * Math.PI, torch.Device? device = null)
    {
        if (dim % 4 != 0) throw new TesseraUserException(nameof(dim), $"dim must be a multiple of 4 for a 2-D sine encoding, got {dim}");
        if (height < 1 || width < 1) throw new TesseraUserException(nameof(height), $"grid size must be positive, got {height} x {width}");
        using var scope = torch.NewDisposeScope();
        torch.Tensor Axis(int n)
        {
            var p = torch.arange(1, n + 1, dtype: torch.ScalarType.Float32, device: device);
            // y = i / (n + ε)·scale, rounded to float32 as the reference computes it
            if (normalize) p = p / (float)(n + 1e-6) * (float)scale;
            return Sinusoidal.Table(p, dim / 2, SinusoidLayout.Interleaved, temperature);   // [n, d/2]
        }
        var y = Axis(height).unsqueeze(1).expand(height, width, dim / 2);
        var x = Axis(width).unsqueeze(0).expand(height, width, dim / 2);
        return torch.cat([y, x], 2).permute(2, 0, 1).contiguous().MoveToOuterDisposeScope();
    }
}
