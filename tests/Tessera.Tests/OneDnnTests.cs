using System.Runtime.CompilerServices;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

internal static class TestSetup
{
    /// <summary>The tests run with the same process set-up as the CLI.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchRuntime.Configure(new RuntimeOptions());
}

// Serial: switches libtorch's oneDNN kernels on and off for the whole process.
[Collection("serial")]
public class OneDnnTests
{
    [Fact]
    public void The_onednn_switch_works()
    {
        Assert.NotNull(OneDnn.Enabled);
        using (var off = OneDnnSwitch.Set(false))
        {
            Assert.True(off.Switched);
            Assert.False(OneDnn.Enabled);
        }
        using var on = OneDnnSwitch.Set(true);
        Assert.True(on.Switched);
        Assert.True(OneDnn.Enabled);
    }

    [Fact]
    public void Process_set_up_turns_nnpack_off()
    {
        // libtorch's own default is on; on CPUs without NNPACK support that means a warning per convolution.
        Assert.False(OneDnn.NnpackEnabled);
    }

    [Fact]
    public void Process_set_up_tunes_the_glibc_heap_on_linux()
    {
        // Without it TorchSharp's burst frees make glibc trim and regrow the heap (bench/README.md, segspeed).
        bool optedOut = Environment.GetEnvironmentVariable("TESSERA_MALLOC") == "default"
            || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null;
        Assert.Equal(OperatingSystem.IsLinux() && !optedOut, NativeHeap.Configured);
    }

    [Theory]
    [InlineData("gcn")]
    [InlineData("kxk")]
    [InlineData("stacked3x3")]
    [InlineData("deeplabv3")]
    [InlineData("fcn")]
    public void Segmentation_models_get_finite_gradients_with_onednn_on(string model)
    {
        // GCN-Net with 11-channel score maps got NaN gradients in every pass with oneDNN on (AMD EPYC, libtorch 2.10).
        using var onednn = OneDnnSwitch.Set(true);
        torch.manual_seed(1);
        using var net = new SegModelConfig { Model = EnumNames.Parse<SegModelKind>("model", model), K = 7, Classes = 11 }.Build();
        var loss = torch.nn.functional.cross_entropy(net.forward(torch.rand(4, 3, 64, 64)), torch.randint(0, 11, [4, 64, 64]));
        loss.backward();
        var bad = net.named_parameters().Where(p => p.parameter.grad is not null && !torch.isfinite(p.parameter.grad).all().item<bool>()).Select(p => p.name).ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} parameters with non-finite gradients, e.g. {string.Join(", ", bad.Take(3))}");
    }
}
