using Tessera.Positional;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>The temporal encoding of object pointers (SAM 2's <c>get_1d_sine_pe</c>).</summary>
public static class Sam2PointerEncoding
{
    /// <summary>
    /// The 1-D sine encoding [n, dim] of positions [n] (Vaswani et al. 2017, §3.5) in SAM 2's layout: the d/2 sines,
    /// then the d/2 cosines, each frequency ωⱼ = 10000^(−2j/(d/2)) used by two adjacent channels.
    /// </summary>
    public static torch.Tensor Sine1D(torch.Tensor positions, int dim, double temperature = 10000)
    {
        if (dim % 4 != 0) throw new TesseraUserException(nameof(dim), $"dim must be a multiple of 4, got {dim}");
        using var scope = torch.NewDisposeScope();
        long n = positions.shape[0];
        // [sin ω₀ … ‖ cos ω₀ …] over d/4 frequencies, each channel doubled
        var table = Sinusoidal.Table(positions, dim / 2, SinusoidLayout.Concatenated, temperature).view(n, 2, dim / 4);
        return table.repeat_interleave(2, 2).reshape(n, dim).MoveToOuterDisposeScope();
    }
}
