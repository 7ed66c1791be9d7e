using Tessera.Segmentation.Backbones;
using Tessera.Training.Distributed;
using TorchSharp.Modules;

namespace Tessera.Tests;

/// <summary>
/// <see cref="SyncBatchNorm2d"/> in one process against libtorch's BatchNorm2d, which it must equal there (over one rank the
/// batch over all ranks is the batch): output, gradients of input, scale and shift, running statistics and evaluation
/// mode; and a model built synchronised has the plain model's state-dict names, so checkpoints load either way. The
/// tolerance 1e-5 (relative to the largest value) covers the different summation: libtorch's one-pass float32 Welford
/// statistics against the float32 centred moments combined in float64 here (observed differences are ~1e-7).
/// </summary>
public class SyncBatchNormTests
{
    private static void Close(torch.Tensor expected, torch.Tensor actual, string what)
    {
        double scale = Math.Max(1, expected.abs().max().item<float>());
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= 1e-5 * scale, $"{what}: max |Δ| {diff} (max |expected| {scale})");
    }

    [Fact]
    public void In_one_process_it_equals_batchnorm2d_forward_backward_and_running_statistics()
    {
        var g = new torch.Generator(11UL);
        using var plain = torch.nn.BatchNorm2d(6, eps: 1e-3, momentum: 0.2);
        using var sync = new SyncBatchNorm2d(6, SingleProcess.Instance, eps: 1e-3, momentum: 0.2);
        using (torch.no_grad())
        {
            // Scale and shift away from their initial values, copied into both.
            var gamma = torch.rand([6], generator: g) + 0.5;
            var beta = torch.randn([6], generator: g);
            plain.weight!.copy_(gamma);
            plain.bias!.copy_(beta);
            sync.state_dict()["weight"].copy_(gamma);
            sync.state_dict()["bias"].copy_(beta);
        }
        for (int pass = 0; pass < 3; pass++)
        {
            // Channel means of several deviations (up to ~±15 against deviations 0.5–2.5): where Σx² − Nμ² in float32 would cancel.
            var x0 = torch.randn([4, 6, 5, 7], generator: g) * (torch.rand([1, 6, 1, 1], generator: g) * 2 + 0.5) + torch.randn([1, 6, 1, 1], generator: g) * 5;
            var r = torch.randn([4, 6, 5, 7], generator: g);
            var (xa, xb) = (x0.clone().requires_grad_(), x0.clone().requires_grad_());
            plain.zero_grad();
            sync.zero_grad();
            var ya = plain.forward(xa);
            var yb = sync.forward(xb);
            Close(ya, yb, $"output, pass {pass}");
            (ya * r).sum().backward();
            (yb * r).sum().backward();
            Close(xa.grad!, xb.grad!, $"∂L/∂x, pass {pass}");
            var sd = sync.state_dict();
            Close(plain.weight!.grad!, ((Parameter)sync.named_parameters().First(p => p.name == "weight").parameter).grad!, $"∂L/∂γ, pass {pass}");
            Close(plain.bias!.grad!, ((Parameter)sync.named_parameters().First(p => p.name == "bias").parameter).grad!, $"∂L/∂β, pass {pass}");
            Close(plain.running_mean!, sd["running_mean"], $"running mean, pass {pass}");
            Close(plain.running_var!, sd["running_var"], $"running variance, pass {pass}");
            Assert.Equal(plain.num_batches_tracked!.item<long>(), sd["num_batches_tracked"].item<long>());
        }
        plain.eval();
        sync.eval();
        var x = torch.randn([2, 6, 3, 3], generator: g) * 3 + 5;
        Close(plain.forward(x), sync.forward(x), "evaluation mode");
    }

    [Fact]
    public void A_model_built_synchronised_has_the_plain_names_loads_its_checkpoint_and_folds()
    {
        ResNet Build() => new(ResNetDepth.ResNet18, numClasses: 5, baseWidth: 8);
        torch.manual_seed(3);
        using var plain = Build();
        ResNet synced;
        using (BatchNorms.Synchronised(SingleProcess.Instance)) synced = Build();
        using var _ = synced;
        Assert.NotEmpty(synced.modules().OfType<SyncBatchNorm2d>());
        Assert.Empty(synced.modules().OfType<BatchNorm2d>());
        Assert.Empty(Build().modules().OfType<SyncBatchNorm2d>()); // the scope is closed again
        var a = plain.state_dict();
        var b = synced.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, v) in a) Assert.Equal(v.shape, b[k].shape);
        // Train the plain model's statistics a little, then load them into the synchronised one: the same inference,
        // folded (no gradients) and unfolded.
        plain.train();
        var x = torch.randn([2, 3, 32, 32], generator: new torch.Generator(5UL));
        using (torch.no_grad()) plain.forward(x * 2 + 1);
        using (torch.no_grad()) foreach (var (k, v) in a) b[k].copy_(v);
        plain.eval();
        synced.eval();
        torch.Tensor expected, folded, unfolded;
        using (torch.no_grad()) (expected, folded) = (plain.forward(x), synced.forward(x));
        using (torch.enable_grad()) unfolded = synced.forward(x).detach();
        Close(expected, folded, "folded inference");
        Close(expected, unfolded, "unfolded inference");
    }
}
