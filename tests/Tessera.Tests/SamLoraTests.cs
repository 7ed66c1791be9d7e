namespace Tessera.Tests;

/// <summary>LoRA on the tiny official SAM's encoder: a fresh adapter is the identity, merged equals unmerged.</summary>
public sealed class SamLoraTests
{
    private static SamModel Tiny() => TinySam.Load();

    private static torch.Tensor Input(int seed) => torch.randn([2, 3, 64, 64], generator: new torch.Generator((ulong)seed));

    [Fact]
    public void Fresh_adapters_leave_the_encoder_bit_identical_and_only_they_get_gradients()
    {
        using var model = Tiny();
        using var x = Input(1);
        using var baseline = model.ImageEncoder.forward(x);
        using var lora = SamLora.Attach(model, new LoraOptions(4), new torch.Generator(7));
        Assert.Equal(4 * 2 * 2, lora.Parameters().Count()); // 4 blocks × (qkv, proj) × (A, B)
        using var adapted = model.ImageEncoder.forward(x);
        Assert.True(Same.Tensors(baseline, adapted));

        foreach (var p in model.parameters()) p.requires_grad = false;
        model.ImageEncoder.forward(x).sum().backward();
        Assert.All(lora.Parameters().Where((_, i) => i % 2 == 1), b => Assert.True(b.grad is not null && b.grad.abs().sum().item<float>() > 0));
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Merged_adapters_on_load_give_the_unmerged_outputs()
    {
        using var dir = new TempDir();
        using var x = Input(2);
        torch.Tensor unmerged;
        using (var model = Tiny())
        {
            using var lora = SamLora.Attach(model, new LoraOptions(3, Alpha: 6), new torch.Generator(11));
            var g = new torch.Generator(5);
            using (torch.no_grad())
                foreach (var b in lora.Parameters().Where((_, i) => i % 2 == 1)) b.copy_(torch.randn(b.shape, generator: g) * 0.2);
            unmerged = model.ImageEncoder.forward(x).detach();
            lora.Save(dir.File("adapters.safetensors"));
            using var baseModel = Tiny();
            using var plain = baseModel.ImageEncoder.forward(x);
            Assert.True((plain - unmerged).abs().max().item<float>() > 1e-2, "the adapters must change the output for this test to mean anything");
        }
        using (unmerged)
        using (var merged = Tiny())
        {
            // Only adapters were written: 2 per projection, A [3, in], B [out, 3].
            using (var file = SafeTensors.Load(dir.File("adapters.safetensors")))
            {
                Assert.Equal(16, file.Tensors.Count);
                Assert.Equal(new long[] { 96, 3 }, file.Tensors["image_encoder.blocks.0.attn.qkv.lora_B"].shape);
            }
            SamLora.MergeInto(merged, dir.File("adapters.safetensors"));
            using var y = merged.ImageEncoder.forward(x);
            double scale = Math.Max(1, unmerged.abs().max().item<float>());
            double err = (y - unmerged).abs().max().item<float>();
            Assert.True(err <= 1e-5 * scale, $"merged vs unmerged: max error {err:E2}");
        }
        File.WriteAllText(dir.File("bad.safetensors"), "nope");
        using var other = Tiny();
        SafeTensors.Save(dir.File("model.safetensors"), [new("x", torch.zeros(1))]);
        Assert.Contains("not a SAM LoRA adapter file", Assert.Throws<TesseraFormatException>(() => SamLora.MergeInto(other, dir.File("model.safetensors"))).Message);
    }
}
