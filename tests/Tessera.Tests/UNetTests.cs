namespace Tessera.Tests;

// Serial: turns libtorch's oneDNN kernels on for the whole process while it compares against PyTorch.
[Collection("serial")]
public class UNetTests
{
    [Fact]
    public void Reference_ddpm_unet_has_the_stated_shape_size_and_finite_gradients()
    {
        using var onednn = OneDnnSwitch.Set(true);
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

    /// <summary>
    /// Counted from the layer list (see UNet.cs): bench/scripts/unet_speed_torch.py's PyTorch model has 3,943,728
    /// because its output convolution has 16 filters, 15 of them (15 × (32·3·3 + 1) = 4,335 parameters) padding.
    /// </summary>
    internal const long ReferenceParameterCount = 3_943_728 - 15 * (32 * 3 * 3 + 1);

    [Fact]
    public void Checkpoints_hold_the_architectures_shapes_and_old_padded_ones_still_load()
    {
        torch.manual_seed(5);
        var config = new UNetConfig(BaseChannels: 16, Multipliers: [1, 2], ResBlocks: 1, AttentionResolutions: [], Groups: 4, TimeChannels: 8, EmbedChannels: 32);
        using var net = new UNet(config);
        var state = net.state_dict();
        // Ho et al.'s output layer: base channels → image channels, no padding in the saved shapes.
        Assert.Equal(new long[] { 1, 16, 3, 3 }, state["convOut.weight"].shape);
        Assert.Equal(new long[] { 1 }, state["convOut.bias"].shape);
        var x = torch.randn(2, 1, 28, 28);
        var t = torch.tensor(new float[] { 0.5f, 20f });
        torch.Tensor expected;
        using (torch.no_grad()) expected = net.forward(x, t);

        using var dir = new TempDir();
        // Saved and loaded as is.
        Tessera.IO.Checkpoint.Save(net, dir.File("new.safetensors"));
        using (var again = new UNet(config))
        {
            Tessera.IO.Checkpoint.Load(again, dir.File("new.safetensors"));
            using (torch.no_grad()) Assert.True(expected.eq(again.forward(x, t)).all().item<bool>());
        }

        // The layout written before: 16 output filters, the last 15 arbitrary (they only fed sliced-off channels).
        var old = state.ToDictionary(kv => kv.Key, kv => kv.Value);
        old["convOut.weight"] = torch.cat([state["convOut.weight"], torch.randn(15, 16, 3, 3)], 0);
        old["convOut.bias"] = torch.cat([state["convOut.bias"], torch.randn(15)], 0);
        Tessera.IO.SafeTensors.Save(dir.File("old.safetensors"), old);
        using (var loaded = new UNet(config))
        {
            Tessera.IO.Checkpoint.Load(loaded, dir.File("old.safetensors"));
            Assert.Equal(new long[] { 1, 16, 3, 3 }, loaded.state_dict()["convOut.weight"].shape);
            using (torch.no_grad()) Assert.True(expected.eq(loaded.forward(x, t)).all().item<bool>());
        }
        // The same through the training-checkpoint reader (model. and ema. prefixes).
        Tessera.IO.SafeTensors.Save(dir.File("old-train.safetensors"), old.Select(kv => ("model." + kv.Key, kv.Value)).ToDictionary(p => p.Item1, p => p.Value));
        using (var loaded = new UNet(config))
        {
            Tessera.Training.TrainingCheckpoint.Load(dir.File("old-train.safetensors"), loaded);
            using (torch.no_grad()) Assert.True(expected.eq(loaded.forward(x, t)).all().item<bool>());
        }
        // And through DiffusionModel.Load, where the U-Net sits under "net.".
        using var model = new Tessera.Diffusion.Models.DiffusionModel(new Tessera.Diffusion.Models.DiffusionModelConfig(NetworkKind.UNet, config));
        model.Save(dir.File("model.safetensors"));
        IReadOnlyDictionary<string, string> meta;
        Dictionary<string, torch.Tensor> padded;
        using (var file = Tessera.IO.SafeTensors.Load(dir.File("model.safetensors")))
        {
            meta = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            padded = file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        }
        string key = Assert.Single(padded.Keys, k => k.EndsWith("convOut.weight", StringComparison.Ordinal));
        Assert.Equal(1, padded[key].shape[0]);
        var original = padded[key].clone();
        padded[key] = torch.cat([original, torch.randn(15, 16, 3, 3)], 0);
        Tessera.IO.SafeTensors.Save(dir.File("model-old.safetensors"), padded, meta);
        using var reloaded = Tessera.Diffusion.Models.DiffusionModel.Load(dir.File("model-old.safetensors"));
        Assert.True(original.eq(reloaded.state_dict()[key]).all().item<bool>());
    }

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

    [Fact]
    public void Fourier_noise_embedding_follows_its_formula_and_is_saved_with_the_weights()
    {
        torch.manual_seed(3);
        using var net = new UNet(new UNetConfig(BaseChannels: 16, Multipliers: [1, 2], ResBlocks: 1, AttentionResolutions: [], Groups: 4, TimeChannels: 8, EmbedChannels: 32, FourierEmbedding: true));
        var freqs = net.state_dict()["fourier_freqs"];
        Assert.Equal(new long[] { 4 }, freqs.shape);
        var f = UNet.FourierFeatures(torch.tensor(new float[] { 0.25f }), freqs).data<float>().ToArray();
        var w = freqs.data<float>().ToArray();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Math.Cos(2 * Math.PI * 0.25 * w[i]), f[i], 4);
            Assert.Equal(Math.Sin(2 * Math.PI * 0.25 * w[i]), f[4 + i], 4);
        }
        // The sinusoidal default has no such buffer, so its checkpoints are unchanged.
        using var plain = new UNet(new UNetConfig(BaseChannels: 16, Multipliers: [1, 2], ResBlocks: 1, AttentionResolutions: [], Groups: 4, TimeChannels: 8, EmbedChannels: 32));
        Assert.DoesNotContain("fourier_freqs", plain.state_dict().Keys);
        using (torch.no_grad())
        {
            var x = torch.randn(2, 1, 28, 28);
            Assert.True((net.forward(x, torch.tensor(new float[] { 0.1f, 0.1f })) - net.forward(x, torch.tensor(new float[] { 3f, 3f }))).abs().max().item<float>() > 1e-5);
        }
    }
}
