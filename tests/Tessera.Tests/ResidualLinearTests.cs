using Tessera.Layers;
using Tessera.Runtime;

namespace Tessera.Tests;

/// <summary>
/// r + (x·Wᵀ + b) accumulated into r + b (<see cref="ResidualLinear"/>) against the same sum computed by libtorch in
/// float64: tokens [B, L, C] (features last), a channels-last map [B, C, H, W] with a 1 × 1 convolution's weight,
/// the NCHW map and autograd (libtorch's path), all within float32 rounding of the product; the residual is not changed.
/// </summary>
public sealed class ResidualLinearTests
{
    private static void AssertClose(torch.Tensor got, torch.Tensor want)
    {
        var err = (got.to(torch.ScalarType.Float64) - want).abs().max().item<double>();
        var scale = want.abs().max().item<double>();
        Assert.True(err <= 2e-6 * scale, $"max |ResidualLinear − float64| = {err:e3} (max |value| {scale:e3})");
    }

    private static torch.Tensor F64(torch.Tensor t) => t.to(torch.ScalarType.Float64);

    [Fact]
    public void Tokens_features_last()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(11);
        var r = torch.randn([2, 50, 48], generator: g);
        var x = torch.randn([2, 50, 96], generator: g);
        var w = torch.randn([48, 96], generator: g) * 0.1;
        var b = torch.randn([48], generator: g);
        var before = r.clone();
        var got = ResidualLinear.Apply(r, x, w, b, -1);
        AssertClose(got, F64(r) + torch.nn.functional.linear(F64(x), F64(w), F64(b)));
        Assert.True(r.equal(before).all().item<bool>(), "the residual was written");
        AssertClose(ResidualLinear.Apply(r, x, w, null, -1), F64(r) + torch.nn.functional.linear(F64(x), F64(w)));
    }

    [Fact]
    public void Inference_paths_are_taken_under_no_grad_with_a_models_parameters()
    {
        // A loaded model's parameters keep requires_grad: under no_grad nothing needs a gradient, with autograd on it does.
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(4, 8);
        var w = torch.randn(8, 8).requires_grad_(true);
        using (torch.no_grad()) Assert.True(NoGradient.For(x, w, null));
        Assert.False(NoGradient.For(x, w, null));
        Assert.True(NoGradient.For(x, w.detach(), null));
        Assert.False(NoGradient.For(x.clone().requires_grad_(true), w.detach()));
    }

    [Fact]
    public void Channels_last_map_with_a_pointwise_convolution_weight()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(12);
        var r = MemoryFormat.ChannelsLast(torch.randn([2, 32, 9, 7], generator: g));
        var x = MemoryFormat.ChannelsLast(torch.randn([2, 64, 9, 7], generator: g));
        var w = torch.randn([32, 64, 1, 1], generator: g) * 0.1;
        var b = torch.randn([32], generator: g);
        var want = F64(r) + torch.nn.functional.conv2d(F64(x), F64(w), F64(b));
        var got = ResidualLinear.Apply(r, x, w, b, 1);
        Assert.True(TensorMemory.IsDense(got, 1), "the output is not channels-last");
        AssertClose(got, want);
        // NCHW tensors and tensors under autograd take libtorch's linear and sum.
        AssertClose(ResidualLinear.Apply(r.contiguous(), x.contiguous(), w, b, 1), want);
        var wg = w.clone().requires_grad_(true);
        var viaAutograd = ResidualLinear.Apply(r, x, wg, b, 1);
        Assert.True(viaAutograd.requires_grad);
        AssertClose(viaAutograd.detach(), want);
    }
}
