using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;
using TorchSharp.Modules;

namespace Tessera.Tests;

/// <summary>
/// Inference with BatchNorm folded into the convolutions (evaluation mode, gradients off) against the same model run
/// unfolded (gradients on, so every BatchNorm module runs as libtorch's batch_norm), on BN statistics far from the
/// initial ones; and the folded weights never showing in the state dict, nor surviving a weight change.
/// </summary>
public class FoldedBatchNormTests
{
    private static void Randomise(torch.nn.Module model, ulong seed)
    {
        var g = new torch.Generator(seed);
        using var _ = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
            if (m is BatchNorm2d bn)
            {
                long c = bn.running_mean!.shape[0];
                bn.running_mean!.copy_(torch.randn([c], generator: g) * 0.5);
                bn.running_var!.copy_(torch.rand([c], generator: g) * 2 + 0.2);
                bn.weight!.copy_(torch.rand([c], generator: g) + 0.5);
                bn.bias!.copy_(torch.randn([c], generator: g) * 0.2);
            }
    }

    private static torch.Tensor Unfolded(torch.nn.Module<torch.Tensor, torch.Tensor> model, torch.Tensor x)
    {
        using var _ = torch.enable_grad();
        return model.forward(x).detach();
    }

    private static torch.Tensor Folded(torch.nn.Module<torch.Tensor, torch.Tensor> model, torch.Tensor x)
    {
        using var _ = torch.no_grad();
        return model.forward(x);
    }

    private static void AssertClose(torch.Tensor expected, torch.Tensor actual)
    {
        double scale = expected.abs().max().item<float>();
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(scale > 0.1, $"degenerate output (max |y| = {scale})");
        Assert.True(diff <= 1e-5 * Math.Max(1, scale), $"folded differs from unfolded by {diff} (max |y| = {scale})");
    }

    [Fact]
    public void Folded_convolution_equals_the_batchnorm_formula()
    {
        var g = new torch.Generator(3UL);
        using var conv = torch.nn.Conv2d(5, 7, 3, stride: 2, padding: 2, dilation: 2, bias: true);
        using var bn = torch.nn.BatchNorm2d(7, eps: 1e-3);
        Randomise(bn, 4);
        using (torch.no_grad()) conv.bias!.copy_(torch.randn([7], generator: g));
        conv.eval();
        bn.eval();
        using var fold = new FoldedConvBatchNorm(conv, bn);
        var x = torch.randn([2, 5, 9, 11], generator: g);
        // BN at inference (Ioffe and Szegedy 2015, Algorithm 2): γ (z − μ) / √(σ² + ε) + β, written out by hand.
        var z = torch.nn.functional.conv2d(x, conv.weight!, conv.bias, [2, 2], [2, 2], [2, 2]);
        var view = new long[] { 1, 7, 1, 1 };
        var expected = (z - bn.running_mean!.reshape(view)) / (bn.running_var!.reshape(view) + 1e-3).sqrt() * bn.weight!.reshape(view) + bn.bias!.reshape(view);
        using var _ = torch.no_grad();
        Assert.True(fold.Active);
        AssertClose(expected, fold.Forward(x));
    }

    public static TheoryData<string> Models => new() { "deeplabv3-resnet18", "deeplabv3-resnet50", "resnet50-classifier" };

    private static torch.nn.Module<torch.Tensor, torch.Tensor> Build(string name) => name switch
    {
        "deeplabv3-resnet18" => new DeepLabV3(11, ResNetDepth.ResNet18, 16, baseWidth: 16, smallStem: true),
        "deeplabv3-resnet50" => new DeepLabV3(5, ResNetDepth.ResNet50, 8, baseWidth: 8),
        _ => new ResNet(ResNetDepth.ResNet50, numClasses: 10, baseWidth: 8),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Folded_inference_equals_unfolded_and_leaves_the_state_dict_alone(string name)
    {
        torch.manual_seed(1);
        using var model = Build(name);
        Randomise(model, 2);
        model.eval();
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var x = torch.randn([2, 3, 48, 40], generator: new torch.Generator(5UL));
        var reference = Unfolded(model, x);
        AssertClose(reference, Folded(model, x));
        var cached = Folded(model, x);   // from the cache
        AssertClose(reference, cached);
        Assert.True(cached.is_contiguous(), "inference logits must come back in the contiguous NCHW layout");
        var after = model.state_dict();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (k, v) in before) Assert.True(v.eq(after[k]).all().item<bool>(), $"{k} changed by inference");
    }

    [Fact]
    public void Deeplab_head_keeps_torchvision_key_names()
    {
        using var model = new DeepLabV3(11, ResNetDepth.ResNet18, 16, baseWidth: 16, smallStem: true);
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (string k in new[] { "head.0.branches.0.0.weight", "head.0.branches.3.1.running_var", "head.1.weight", "head.2.running_var", "head.4.bias" })
            Assert.Contains(k, keys);
        Assert.Contains("head.0.pooling.1.weight", keys);
        Assert.Contains("head.0.project.1.running_mean", keys);
        Assert.DoesNotContain(keys, k => k.Contains("fold", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Cache_follows_loaded_weights_and_optimiser_steps()
    {
        torch.manual_seed(1);
        using var model = Build("deeplabv3-resnet18");
        using var other = Build("deeplabv3-resnet18");
        Randomise(model, 2);
        Randomise(other, 3);
        model.eval();
        other.eval();
        var x = torch.randn([2, 3, 32, 32], generator: new torch.Generator(5UL));
        _ = Folded(model, x);   // builds the cache
        string path = Path.Combine(Path.GetTempPath(), $"fold-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(other, path);
            Checkpoint.Load(model, path);
            AssertClose(Unfolded(model, x), Unfolded(other, x));
            AssertClose(Unfolded(other, x), Folded(model, x));
        }
        finally { File.Delete(path); }

        // Fine-tuning with frozen BatchNorm (evaluation mode): the gradient pass drops the cache, so the next
        // inference sees the stepped weights.
        using var opt = torch.optim.SGD(model.parameters(), 0.5);
        opt.zero_grad();
        model.forward(x).square().mean().backward();
        opt.step();
        AssertClose(Unfolded(model, x), Folded(model, x));
    }
}
