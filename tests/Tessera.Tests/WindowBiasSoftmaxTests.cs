using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Tests;

/// <summary>
/// TinyViT's fused attention weights (<see cref="WindowBiasSoftmax"/>) against libtorch's softmax(z·scale + ab[head])
/// in float32: float32 logits to 1e-6, bfloat16 logits within one rounding of the float32 result; windows of 7 and 14
/// (49 and 196 keys: whole vectors and a tail), 5 heads, and a row count the threads do not divide evenly.
/// </summary>
public sealed class WindowBiasSoftmaxTests
{
    [Theory]
    [InlineData(7, 3, "float32")]
    [InlineData(7, 3, "bfloat16")]
    [InlineData(14, 1, "float32")]
    [InlineData(14, 1, "bfloat16")]
    [InlineData(2, 1, "float32")]
    public void Equals_libtorch_softmax_of_scaled_logits_plus_bias(int window, int batch, string type)
    {
        using var scope = torch.NewDisposeScope();
        var dtype = type == "float32" ? torch.ScalarType.Float32 : torch.ScalarType.BFloat16;
        int heads = 5, n = window * window;
        var g = new torch.Generator(5);
        var z = (torch.randn([batch, heads, n, n], generator: g) * 6).to(dtype);
        z[0, 0, 0].add_(200); // a row far from zero: the max is subtracted first
        var bias = torch.randn([heads, n, n], generator: g) * 2;
        double scale = 0.125;
        var want = (z.to(torch.ScalarType.Float32) * scale + bias).softmax(-1);

        if (!WindowBiasSoftmax.Supported(z, n))
        {
            // Only where the CPU or libtorch's OpenMP runtime lacks what the kernel needs (the caller keeps libtorch's path).
            Assert.False(Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available, "the kernel refused a supported case");
            return;
        }
        var got = z.clone();
        WindowBiasSoftmax.ApplyInPlace(got, bias, scale);
        var diff = (got.to(torch.ScalarType.Float32) - want).abs();
        if (dtype == torch.ScalarType.Float32)
            Assert.True(diff.max().item<float>() < 1e-6, $"max |fused − libtorch| = {diff.max().item<float>()}");
        else
            Assert.True((diff <= want * Math.Pow(2, -8) + 1e-6).all().item<bool>(), $"max |fused − libtorch| / p = {(diff / want.clamp_min(1e-30)).max().item<float>()}");
    }
}
