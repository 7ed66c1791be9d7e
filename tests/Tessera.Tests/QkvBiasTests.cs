using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// Attention layers whose inference drops the keys' bias and moves the values' into the output projection
/// (<see cref="Tessera.Layers.QkvBias"/>) against softmax((x W_q + b_q)(x W_k + b_k)ᵀ/√d)(x W_v + b_v) W_oᵀ + b_o written
/// out in float64 with every bias where the formula has it, on random weights with large biases (so a dropped or
/// misplaced bias shows): Hiera's attention over small windows (products) and globally (libtorch's fused kernel), with
/// and without query pooling, and TinyViT's window attention with its attention bias.
/// </summary>
public sealed class QkvBiasTests
{
    private static torch.Tensor P(torch.nn.Module module, string name) =>
        module.named_parameters().Single(p => p.name == name).parameter.detach().to(torch.ScalarType.Float64);

    private static void Randomize(torch.nn.Module module, int seed)
    {
        var g = new torch.Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (_, p) in module.named_parameters()) p.copy_(torch.randn(p.shape, generator: g) * (p.dim() == 1 ? 2.0 : 0.2));
    }

    private static void AssertClose(torch.Tensor got, torch.Tensor want)
    {
        var err = (got.to(torch.ScalarType.Float64) - want).abs().max().item<double>();
        Assert.True(err <= 1e-5 * want.abs().max().item<double>(), $"max |layer − float64 formula| = {err:e3}, max |value| {want.abs().max().item<double>():e3}");
    }

    [Theory]
    [InlineData(8, 0)]   // 64 keys: two products around a softmax
    [InlineData(24, 0)]  // 576 keys: libtorch's scaled_dot_product_attention
    [InlineData(8, 2)]   // pooled queries
    public void Hiera_attention_equals_the_formula_with_every_bias(int side, int qStride)
    {
        using var scope = torch.NewDisposeScope();
        int dim = 32, dimOut = 48, heads = 3, d = dimOut / heads;
        using var attn = new MultiScaleAttention(dim, dimOut, heads, qStride);
        Randomize(attn, 21 + side + qStride);
        var x = torch.randn([2, side, side, dim], generator: new torch.Generator(3));
        torch.Tensor got;
        using (torch.no_grad()) got = attn.forward(x);

        var x64 = x.to(torch.ScalarType.Float64);
        var qkv = torch.nn.functional.linear(x64, P(attn, "qkv.weight"), P(attn, "qkv.bias")).reshape(2, side, side, 3, heads, d);
        var q = qkv.select(3, 0);
        if (qStride > 0) q = torch.nn.functional.max_pool2d(q.reshape(2, side, side, dimOut).permute(0, 3, 1, 2), qStride, qStride).permute(0, 2, 3, 1).reshape(2, side / qStride, side / qStride, heads, d);
        long hq = q.shape[1];
        var qh = q.reshape(2, -1, heads, d).transpose(1, 2);
        var kh = qkv.select(3, 1).reshape(2, -1, heads, d).transpose(1, 2);
        var vh = qkv.select(3, 2).reshape(2, -1, heads, d).transpose(1, 2);
        var weights = (torch.matmul(qh, kh.transpose(-2, -1)) / Math.Sqrt(d)).softmax(-1);
        var o = torch.matmul(weights, vh).transpose(1, 2).reshape(2, hq, hq, dimOut);
        var want = torch.nn.functional.linear(o, P(attn, "proj.weight"), P(attn, "proj.bias"));
        AssertClose(got, want);
    }

    [Fact]
    public void TinyVit_window_attention_equals_the_formula_with_every_bias()
    {
        using var scope = torch.NewDisposeScope();
        int dim = 64, heads = 2, window = 7, n = window * window, d = dim / heads;
        using var attn = new TinyVitAttention(dim, heads, window);
        Randomize(attn, 31);
        var x = torch.randn([5, n, dim], generator: new torch.Generator(4));
        torch.Tensor got;
        using (torch.no_grad()) got = attn.forward(x);

        var x64 = x.to(torch.ScalarType.Float64);
        var h = torch.nn.functional.layer_norm(x64, [dim], P(attn, "norm.weight"), P(attn, "norm.bias"));
        var qkv = torch.nn.functional.linear(h, P(attn, "qkv.weight"), P(attn, "qkv.bias")).view(5, n, heads, 3, d).permute(3, 0, 2, 1, 4);
        var ab = P(attn, "attention_biases").index_select(1, attn.BiasIndex.view(-1)).view(heads, n, n);
        var weights = (torch.matmul(qkv[0], qkv[1].transpose(-2, -1)) / Math.Sqrt(d) + ab).softmax(-1);
        var o = torch.matmul(weights, qkv[2]).transpose(1, 2).reshape(5, n, dim);
        var want = torch.nn.functional.linear(o, P(attn, "proj.weight"), P(attn, "proj.bias"));
        AssertClose(got, want);
    }
}
