using System.Runtime.Intrinsics.X86;
using Tessera.Layers;
using Tessera.Runtime;

namespace Tessera.Tests;

/// <summary>
/// The AVX-512 GELU (<see cref="ErfGelu"/>) against libtorch's exact GELU, ½·x·(1 + erf(x/√2)), computed in float64:
/// float32 within 3e-7·(|x| + 1), the bound libtorch's own float32 GELU needs (2.5e-7·(|x| + 1)), bfloat16 within one
/// rounding of libtorch's bfloat16 GELU; lengths with and without a tail, one thread and the team; the bias folded in
/// along the last axis and along a channels-last tensor's channels; and libtorch's path wherever the kernel does not run.
/// </summary>
public sealed class ErfGeluTests
{
    private static bool KernelAvailable => Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available;

    private static torch.Tensor Reference(torch.Tensor x) => torch.nn.functional.gelu(x.to(torch.ScalarType.Float64));

    private static void AssertFloat32Close(torch.Tensor got, torch.Tensor input)
    {
        var x = input.to(torch.ScalarType.Float64);
        var err = (got.to(torch.ScalarType.Float64) - Reference(x)).abs();
        var bound = x.abs().add(1).mul(3e-7);
        var worst = (err / x.abs().add(1)).max().item<double>();
        Assert.True((err <= bound).all().item<bool>(), $"max |GELU − reference| / (|x| + 1) = {worst:e3}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(4096)]
    [InlineData(100_003)] // the team, with a tail
    public void Float32_matches_the_exact_gelu(int length)
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(KernelAvailable, ErfGelu.Runs(torch.zeros(length)));
        // A sweep over [−10, 10] with special points: zeros, tiny values, the clamp's edge (4·√2) and far in the tail.
        var x = torch.linspace(-10, 10, length);
        if (length >= 17) x[..8] = torch.tensor(new float[] { 0f, -0f, 1e-30f, -1e-30f, 5.657f, -5.657f, 1e-3f, -40f });
        var got = ErfGelu.InPlace(x.clone());
        AssertFloat32Close(got, x);
        Assert.Equal(0f, got[0].item<float>());
        if (length >= 17) Assert.True(Math.Abs(got[7].item<float>()) < 1e-5); // GELU(−40): 0 to within erf's float32 error
    }

    [Fact]
    public void Float32_matches_libtorch_where_erf_is_not_saturated()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([3, 1000, 37], generator: new torch.Generator(3)) * 3;
        var got = ErfGelu.InPlace(x.clone());
        AssertFloat32Close(got, x);
        // The bound is one libtorch's own float32 GELU needs as well (its error here 2.5e-7·(|x| + 1)).
        AssertFloat32Close(x.gelu(), x);
    }

    [Fact]
    public void BFloat16_is_within_one_rounding_of_libtorch()
    {
        using var scope = torch.NewDisposeScope();
        var x = (torch.randn([70_001], generator: new torch.Generator(4)) * 4).to(torch.ScalarType.BFloat16);
        var want = x.gelu().to(torch.ScalarType.Float32);
        var got = ErfGelu.InPlace(x.clone()).to(torch.ScalarType.Float32);
        // One bfloat16 step of the value (2⁻⁷ relative at most) plus the two float32 GELUs' distance before rounding.
        var diff = (got - want).abs();
        var bound = want.abs() * Math.Pow(2, -7) + x.to(torch.ScalarType.Float32).abs().add(1).mul(6e-7);
        Assert.True((diff <= bound).all().item<bool>(), $"max |ErfGelu − libtorch| = {diff.max().item<float>()}");
    }

    [Theory]
    [InlineData(48)]
    [InlineData(20)] // not a multiple of 16: libtorch's add_, then the kernel
    public void Bias_along_the_last_axis(int channels)
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(5);
        var x = torch.randn([2, 301, channels], generator: g) * 2;
        var bias = torch.randn([channels], generator: g);
        var got = ErfGelu.InPlace(x.clone(), bias, -1);
        AssertFloat32Close(got, x + bias);
    }

    [Fact]
    public void Bias_along_a_channels_last_tensors_channels()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(6);
        var x = MemoryFormat.ChannelsLast(torch.randn([2, 32, 17, 9], generator: g));
        Assert.True(TensorMemory.IsDense(x, 1));
        Assert.False(TensorMemory.IsDense(x, -1));
        var bias = torch.randn([32], generator: g);
        var got = ErfGelu.InPlace(x.clone(), bias, 1);
        AssertFloat32Close(got, x + bias.view(1, 32, 1, 1));
        // The same tensor with its channels not innermost (contiguous NCHW): libtorch's add_, same values.
        var nchw = ErfGelu.InPlace(x.contiguous(), bias, 1);
        AssertFloat32Close(nchw, x + bias.view(1, 32, 1, 1));
    }

    [Fact]
    public void Strided_views_and_autograd_keep_libtorchs_gelu()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([64, 48], generator: new torch.Generator(7));
        var strided = x.clone()[.., ..16];
        Assert.False(TensorMemory.IsDense(strided));
        Assert.False(ErfGelu.Runs(strided));
        var want = Reference(strided);
        var got = ErfGelu.InPlace(strided);
        Assert.True((got.to(torch.ScalarType.Float64) - want).abs().max().item<double>() < 1e-6);
        Assert.True(TensorMemory.IsDense(x.t()));

        var leaf = x.clone().requires_grad_(true);
        var y = ErfGelu.Activation(leaf * 1);
        Assert.True(y.requires_grad);
        y.sum().backward();
        Assert.NotNull(leaf.grad);
    }
}
