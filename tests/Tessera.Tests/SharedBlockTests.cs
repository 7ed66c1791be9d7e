using Tessera.Attention;
using Tessera.Diffusion.Training;
using Tessera.Layers;

namespace Tessera.Tests;

/// <summary>
/// The shared attention and MLP blocks, and the networks built on them: DiT's checkpoints hold the official key names
/// and the architecture's own shapes (the oneDNN padding stays inside the forward pass), and checkpoints in the layouts
/// written before (block-level qkv/fc1 names, padded final layer, the U-Net's 1×1-convolution attention) still load.
/// </summary>
public sealed class SharedBlockTests
{
    [Fact]
    public void Attend_is_softmax_of_scaled_dot_products_per_head()
    {
        var gen = new torch.Generator(11);
        using var attn = new MultiHeadAttention(8, 2, causal: false);
        var x = torch.randn([2, 5, 8], generator: gen);
        var state = attn.state_dict();
        // Vaswani et al. eq. 1 per head, written out: heads split the width, d_h = 4.
        var qkv = torch.nn.functional.linear(x, state["qkv.weight"], state["qkv.bias"]).view(2, 5, 3, 2, 4);
        var heads = new List<torch.Tensor>();
        for (int h = 0; h < 2; h++)
        {
            var q = qkv[.., .., 0, h];
            var k = qkv[.., .., 1, h];
            var v = qkv[.., .., 2, h];
            heads.Add(torch.softmax(q.matmul(k.transpose(1, 2)) / 2.0, -1).matmul(v));
        }
        var want = torch.nn.functional.linear(torch.cat(heads, 2), state["proj.weight"], state["proj.bias"]);
        using (torch.no_grad()) Assert.True(torch.allclose(want, attn.Attend(x), rtol: 1e-5, atol: 1e-6));
        Assert.Throws<InvalidOperationException>(() => new MultiHeadAttention(8, 2, causal: true).Attend(x));
    }

    [Fact]
    public void Mlp_is_fc2_of_gelu_of_fc1()
    {
        var gen = new torch.Generator(12);
        using var mlp = new Mlp(6, 10, 3, MlpActivation.GeluTanh);
        var x = torch.randn([4, 6], generator: gen);
        var s = mlp.state_dict();
        Assert.Equal(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"], s.Keys.Order(StringComparer.Ordinal));
        var h = torch.nn.functional.linear(x, s["fc1.weight"], s["fc1.bias"]);
        // GELU's tanh approximation (Hendrycks and Gimpel 2016, §2): ½h(1 + tanh(√(2/π)(h + 0.044715h³))).
        var gelu = 0.5 * h * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (h + 0.044715 * h.pow(3))));
        var want = torch.nn.functional.linear(gelu, s["fc2.weight"], s["fc2.bias"]);
        using (torch.no_grad()) Assert.True(torch.allclose(want, mlp.forward(x), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Mlp_under_SAMs_key_names_is_lin2_of_relu_of_lin1()
    {
        var gen = new torch.Generator(14);
        using var mlp = new Mlp(6, 10, activation: MlpActivation.Relu, names: ("lin1", "lin2"));
        var x = torch.randn([4, 6], generator: gen);
        var s = mlp.state_dict();
        // The official SAM checkpoints' names (segment_anything/modeling/common.py, MLPBlock).
        Assert.Equal(["lin1.bias", "lin1.weight", "lin2.bias", "lin2.weight"], s.Keys.Order(StringComparer.Ordinal));
        var h = torch.nn.functional.linear(x, s["lin1.weight"], s["lin1.bias"]);
        var want = torch.nn.functional.linear(torch.where(h > 0, h, torch.zeros_like(h)), s["lin2.weight"], s["lin2.bias"]);
        using (torch.no_grad()) Assert.True(torch.allclose(want, mlp.forward(x), rtol: 1e-6, atol: 1e-7));
    }

    [Fact]
    public void DiT_checkpoints_hold_official_names_and_own_shapes_and_old_layouts_still_load()
    {
        var gen = new torch.Generator(13);
        var config = new DiTConfig(InChannels: 1, ImageSize: 8, PatchSize: 2, Hidden: 32, Depth: 2, Heads: 2, Classes: 3);
        using var net = new DiT(config);
        // The output layer starts at zero; move every parameter so the padded rows would show if they leaked.
        using (torch.no_grad()) foreach (var p in net.parameters()) p.add_(torch.randn(p.shape, generator: gen) * 0.05);
        var x = torch.randn([2, 1, 8, 8], generator: gen);
        var t = torch.tensor(new float[] { 0.3f, 4f });
        var y = torch.tensor(new long[] { 2, 3 });
        torch.Tensor expected;
        using (torch.no_grad()) expected = net.forward(x, t, y);

        using var dir = new TempDir();
        Checkpoint.Save(net, dir.File("new.safetensors"));
        Dictionary<string, torch.Tensor> saved;
        using (var file = SafeTensors.Load(dir.File("new.safetensors")))
            saved = file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        // Peebles and Xie's final layer: hidden → p·p·C = 2·2·1 outputs, no padding.
        Assert.Equal(new long[] { 4, 32 }, saved["final_linear.weight"].shape);
        Assert.Equal(new long[] { 4 }, saved["final_linear.bias"].shape);
        // The official DiT names of a block's attention and MLP.
        string[] block = ["adaLN_modulation.1.bias", "adaLN_modulation.1.weight", "attn.proj.bias", "attn.proj.weight", "attn.qkv.bias", "attn.qkv.weight",
            "mlp.fc1.bias", "mlp.fc1.weight", "mlp.fc2.bias", "mlp.fc2.weight"];
        Assert.Equal(block, saved.Keys.Where(k => k.StartsWith("blocks.1.", StringComparison.Ordinal)).Select(k => k["blocks.1.".Length..]).Order(StringComparer.Ordinal));
        // Parameter count from the layer list: patch embedding, noise MLP, class table, blocks, final modulation and layer.
        long perBlock = 32 * 6 * 32 + 6 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32;
        long count = (4 * 32 + 32) + (256 * 32 + 32 + 32 * 32 + 32) + 4 * 32 + 2 * perBlock + (32 * 64 + 64) + (32 * 4 + 4);
        Assert.Equal(count, saved.Values.Sum(v => v.numel()));

        // The layout written before: block-level qkv/proj/fc1/fc2 and a final layer with 16 outputs per pixel
        // (p·p·16 rows, pixel-major), the 15 extra per pixel arbitrary: they only fed sliced-off channels.
        var old = new Dictionary<string, torch.Tensor>();
        foreach (var (key, value) in saved)
        {
            string k = key.Replace(".attn.qkv.", ".qkv.").Replace(".attn.proj.", ".proj.").Replace(".mlp.fc1.", ".fc1.").Replace(".mlp.fc2.", ".fc2.");
            old[k] = value;
        }
        old["final_linear.weight"] = torch.cat([saved["final_linear.weight"].view(4, 1, 32), torch.randn([4, 15, 32], generator: gen)], 1).view(64, 32);
        old["final_linear.bias"] = torch.cat([saved["final_linear.bias"].view(4, 1), torch.randn([4, 15], generator: gen)], 1).view(64);
        SafeTensors.Save(dir.File("old.safetensors"), old);
        using (var loaded = new DiT(config))
        {
            Checkpoint.Load(loaded, dir.File("old.safetensors"));
            Assert.Equal(new long[] { 4, 32 }, loaded.state_dict()["final_linear.weight"].shape);
            using (torch.no_grad()) Assert.True(expected.eq(loaded.forward(x, t, y)).all().item<bool>());
        }

        // And through DiffusionModel.Load, where the DiT sits under "net.".
        using var model = new DiffusionModel(new DiffusionModelConfig(NetworkKind.DiT, DiT: config));
        model.Save(dir.File("model.safetensors"));
        IReadOnlyDictionary<string, string> meta;
        Dictionary<string, torch.Tensor> tensors;
        using (var file = SafeTensors.Load(dir.File("model.safetensors")))
        {
            meta = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            tensors = file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        }
        var original = tensors["net.final_linear.weight"].clone();
        Assert.Equal(new long[] { 4, 32 }, original.shape);
        tensors["net.final_linear.weight"] = torch.cat([original.view(4, 1, 32), torch.randn([4, 15, 32], generator: gen)], 1).view(64, 32);
        tensors["net.blocks.0.qkv.weight"] = tensors["net.blocks.0.attn.qkv.weight"];
        tensors.Remove("net.blocks.0.attn.qkv.weight");
        SafeTensors.Save(dir.File("model-old.safetensors"), tensors, meta);
        using var reloaded = DiffusionModel.Load(dir.File("model-old.safetensors"));
        Assert.True(original.eq(reloaded.state_dict()["net.final_linear.weight"]).all().item<bool>());
    }

    [Fact]
    public void UNet_attention_written_as_one_by_one_convolutions_still_loads()
    {
        var gen = new torch.Generator(14);
        var config = new UNetConfig(BaseChannels: 16, Multipliers: [1, 2], ResBlocks: 1, AttentionResolutions: [14], Groups: 4, TimeChannels: 8, EmbedChannels: 32);
        using var net = new UNet(config);
        var x = torch.randn([2, 1, 28, 28], generator: gen);
        var t = torch.tensor(new float[] { 0.5f, 20f });
        torch.Tensor expected;
        using (torch.no_grad()) expected = net.forward(x, t);
        var state = net.state_dict();
        var attention = state.Keys.Where(k => k.Contains(".attn.", StringComparison.Ordinal)).ToList();
        // Down, middle and up paths each hold attention at 14 × 14 (or in the middle).
        Assert.True(attention.Count >= 12, string.Join(", ", attention));
        // Before the shared block: attn.qkv / attn.proj were the module's own 1×1 convolutions qkv / proj.
        var old = new Dictionary<string, torch.Tensor>();
        foreach (var (key, value) in state)
            old[key.Replace(".attn.", ".")] = key.Contains(".attn.", StringComparison.Ordinal) && key.EndsWith(".weight", StringComparison.Ordinal) ? value.view([.. value.shape, 1, 1]) : value;
        using var dir = new TempDir();
        SafeTensors.Save(dir.File("old.safetensors"), old);
        using var loaded = new UNet(config);
        Checkpoint.Load(loaded, dir.File("old.safetensors"));
        using (torch.no_grad()) Assert.True(expected.eq(loaded.forward(x, t)).all().item<bool>());
    }
}
