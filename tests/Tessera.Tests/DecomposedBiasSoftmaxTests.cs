using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Tests;

/// <summary>
/// The fused relative-position softmax of SAM's ViT attention (<see cref="DecomposedBiasSoftmax"/>) against libtorch's
/// own softmax of the logits plus the broadcast terms (MViTv2 eq. 4): float32 to 1e-6, bfloat16 within one rounding
/// of the float32 result; on key grids whose width is a multiple of 16 (ViT-B's global 64), windows (14, the tiny
/// fixture's 3) and a grid wider than 16 that is not (50), with a row count the threads do not divide evenly.
/// </summary>
public sealed class DecomposedBiasSoftmaxTests
{
    [Theory]
    [InlineData(64, 64, 37, "float32")]
    [InlineData(64, 64, 37, "bfloat16")]
    [InlineData(14, 14, 131, "float32")]
    [InlineData(14, 14, 131, "bfloat16")]
    [InlineData(3, 3, 9, "float32")]
    [InlineData(8, 8, 5, "bfloat16")]
    [InlineData(50, 50, 7, "float32")]
    [InlineData(16, 48, 3, "bfloat16")]
    public void Equals_libtorch_softmax_of_logits_plus_terms(int h, int w, int rows, string type)
    {
        using var scope = torch.NewDisposeScope();
        var dtype = type == "float32" ? torch.ScalarType.Float32 : torch.ScalarType.BFloat16;
        var g = new torch.Generator(11);
        // Logits of either sign and a wide range (one row shifted by +60, one by −60: the max is subtracted first).
        var z = (torch.randn([rows, h * w], generator: g) * 4).to(dtype);
        z[0].add_(60);
        z[rows - 1].sub_(60);
        var termH = torch.randn([rows, h], generator: g) * 3;
        var termW = torch.randn([rows, w], generator: g) * 3;
        var want = (z.to(torch.ScalarType.Float32).view(rows, h, w) + termH.unsqueeze(2) + termW.unsqueeze(1)).view(rows, h * w).softmax(-1);

        if (!DecomposedBiasSoftmax.Supported(z, h, w))
        {
            // Only where the CPU or libtorch's OpenMP runtime lacks what the kernel needs (the callers keep libtorch's path).
            Assert.False(Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available, "the kernel refused a supported case");
            return;
        }
        var got = z.clone();
        DecomposedBiasSoftmax.ApplyInPlace(got, termH, termW, h, w);
        var diff = (got.to(torch.ScalarType.Float32) - want).abs();
        if (dtype == torch.ScalarType.Float32)
        {
            Assert.True(diff.max().item<float>() < 1e-6, $"max |fused − libtorch| = {diff.max().item<float>()}");
        }
        else
        {
            // One bfloat16 rounding of a value p: |error| ≤ 2⁻⁸·p (8 significant bits), plus the float32 kernel's 1e-6.
            var bound = want * Math.Pow(2, -8) + 1e-6;
            Assert.True((diff <= bound).all().item<bool>(), $"max |fused − libtorch| / p = {(diff / want.clamp_min(1e-30)).max().item<float>()}");
        }
    }

    [Fact]
    public void Rejects_a_non_contiguous_row_block()
    {
        using var scope = torch.NewDisposeScope();
        var z = torch.zeros(8, 256).t();
        if (!DecomposedBiasSoftmax.Supported(z, 2, 4))
        {
            Assert.False(Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available, "the kernel refused a supported case");
            return;
        }
        Assert.Throws<ArgumentException>(() => DecomposedBiasSoftmax.ApplyInPlace(z, torch.zeros(256, 2), torch.zeros(256, 4), 2, 4));
    }
}
