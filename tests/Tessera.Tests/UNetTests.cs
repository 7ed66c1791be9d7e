using Tessera.Diffusion.Networks;
using Tessera.Runtime;
using TorchSharp;

namespace Tessera.Tests;

[Collection("serial")]
public class UNetTests
{
    [Fact]
    public void Reference_ddpm_unet_has_the_stated_shape_size_and_finite_gradients()
    {
        bool? before = OneDnn.Enabled;
        OneDnn.SetEnabled(true);
        try
        {
            torch.manual_seed(0);
            using var net = new UNet(new UNetConfig());
            long count = net.parameters().Sum(p => p.numel());
            // Base 32, multipliers 1-2-4, two residual blocks per level, attention at 7×7, GN(8), embedding 32 → 128.
            Assert.Equal(ReferenceParameterCount, count);
            var x = torch.randn(4, 1, 28, 28);
            var t = torch.tensor(new float[] { 1, 10, 100, 999 });
            var y = net.forward(x, t);
            Assert.Equal(x.shape, y.shape);
            torch.nn.functional.mse_loss(y, torch.randn_like(y)).backward();
            Assert.All(net.parameters(), p => Assert.True(torch.isfinite(p.grad!).all().item<bool>()));
            // The noise level matters: another t gives another output.
            using (torch.no_grad())
                Assert.True((net.forward(x, t) - net.forward(x, t + 50)).abs().max().item<float>() > 1e-4);
        }
        finally
        {
            if (before is bool b) OneDnn.SetEnabled(b);
        }
    }

    /// <summary>Counted from the layer list (see UNet.cs); also printed by bench/ unet next to PyTorch's count.</summary>
    internal const long ReferenceParameterCount = 3_943_728;

    [Fact]
    public void Class_conditioning_uses_the_null_label_by_default()
    {
        torch.manual_seed(1);
        using var net = new UNet(new UNetConfig(Classes: 10, BaseChannels: 16, ImageSize: 28));
        var x = torch.randn(2, 1, 28, 28);
        var t = torch.tensor(new float[] { 5, 5 });
        using (torch.no_grad())
        {
            var none = net.forward(x, t, null);
            var nullLabel = net.forward(x, t, torch.tensor(new long[] { 10, 10 }));
            var three = net.forward(x, t, torch.tensor(new long[] { 3, 3 }));
            Assert.True((none - nullLabel).abs().max().item<float>() == 0, $"null {(none - nullLabel).abs().max().item<float>()}");
            Assert.True((none - three).abs().max().item<float>() > 1e-5, $"class {(none - three).abs().max().item<float>()}");
        }
    }
}
