namespace Tessera.Tests;

/// <summary>
/// <c>tessera sam segment|auto</c> with MobileSAM: the fixture's tiny official-format checkpoint
/// (tests/fixtures/mobilesam/mobilesam_tiny.pt, saved by the official code as a user's file is), its encoder
/// read from the weights, against the masks the official SamPredictor gave on the same photo.
/// </summary>
public sealed class MobileSamCliTests
{
    private static readonly Lazy<Dictionary<string, torch.Tensor>> Io = new(() => TensorIndexFile.Read(Path.Combine(MobileSamFixtureTests.Dir, "mobilesam_tiny_io.bin")));

    private static void SameMask(string file, string name, int index) =>
        RecordedMask.Same(file, Io.Value[$"{name}/masks"][index], Io.Value[$"{name}/logits"][index]);

    [Fact]
    public void Segment_takes_a_mobile_sam_checkpoint_and_writes_the_official_masks()
    {
        using var dir = new TempDir();
        string ckpt = MobileSamFixtureTests.TinyCheckpoint, image = MobileSamFixtureTests.Photo;
        RecordedMask.SegmentedClickIsOfficial(ckpt, image, dir.File("p.png"), key => Io.Value[key]);

        var (code, output) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--image", image, "--box", "30,20,120,100", "--output", dir.File("b.png"), "-q");
        Assert.True(code == 0, output);
        SameMask(dir.File("b.png"), "box", 0);

        // --model insists on a size: the tiny checkpoint is neither ViT-B nor the released MobileSAM, and the reason says so.
        foreach (var (size, reason) in new[] { ("vit_b", "not a SAM with encoder width 768"), ("vit_t", "not a MobileSAM (TinyViT widths 64, 128, 160, 320") })
        {
            (code, output) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--model", size, "--image", image, "--box", "30,20,120,100", "--output", dir.File("x.png"), "-q");
            Assert.Equal(2, code);
            Assert.Contains(reason, output);
        }
    }

    [Fact]
    public void Auto_runs_a_mobile_sam_checkpoint()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("sam", "auto", "--checkpoint", MobileSamFixtureTests.TinyCheckpoint, "--image", MobileSamFixtureTests.Photo,
            "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-thresh", "0.5", "--out", dir.File("auto"), "-q");
        Assert.True(code == 0, output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("auto"), "masks.json")));
        var anns = doc.RootElement.EnumerateArray().ToList();
        Assert.NotEmpty(anns);
        foreach (var a in anns) Assert.True(File.Exists(Path.Combine(dir.File("auto"), "masks", $"{a.GetProperty("id").GetInt32():D3}.png")));
        Assert.True(File.Exists(Path.Combine(dir.File("auto"), "overlay.png")));
    }

    [Fact]
    public void Train_with_a_frozen_mobile_sam_encoder_then_eval_the_result()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("sam", "train", "--init", MobileSamFixtureTests.TinyCheckpoint, "--freeze-encoder", "--batch", "1", "--rounds", "1",
            "--steps", "1", "--eval-every", "1", "--eval-scenes", "1", "--out", dir.File("run"), "-q");
        Assert.True(code == 0, output);
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var init = Segmentation.Sam.Modeling.SamModel.Load(MobileSamFixtureTests.TinyCheckpoint).state_dict();
        using (var after = SafeTensors.Load(model))
        {
            Assert.All(after.Tensors.Where(kv => kv.Key.StartsWith("image_encoder.", StringComparison.Ordinal)), kv => Assert.True(Same.Tensors(kv.Value, init[kv.Key]), kv.Key));
            Assert.Contains(after.Tensors.Where(kv => kv.Key.StartsWith("mask_decoder.", StringComparison.Ordinal)), kv => !Same.Tensors(kv.Value, init[kv.Key]));
        }
        (code, output) = CliTests.Run("sam", "eval", "--checkpoint", model, "--scenes", "1", "--clicks", "2", "-q");
        Assert.True(code == 0, output);
        Assert.Contains("2 clicks", output);
    }
}
