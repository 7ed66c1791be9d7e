namespace Tessera.Tests;

/// <summary>
/// <c>tessera sam segment|auto</c> with a SAM 2.1 checkpoint: the fixture's tiny official-format <c>sam2.1_tiny.pt</c>,
/// detected as SAM 2 from its keys, against the masks the official SAM2ImagePredictor gave on the same photo (built
/// there without build_sam2's dynamic multimask fallback, which only changes single-mask outputs: the prompts here are
/// multimask, or a box whose single mask the fallback keeps — checked against the official mask).
/// </summary>
public sealed class Sam2CliTests
{
    private static void SameMask(string file, string name, int index) =>
        RecordedMask.Same(file, Sam2Fixture.Ref($"{name}/masks")[index], Sam2Fixture.Ref($"{name}/logits")[index]);

    [Fact]
    public void Segment_takes_a_sam2_checkpoint_and_writes_the_official_masks()
    {
        using var dir = new TempDir();
        string ckpt = Sam2Fixture.TinyCheckpoint, image = Sam2Fixture.Photo;
        RecordedMask.SegmentedClickIsOfficial(ckpt, image, dir.File("p.png"), Sam2Fixture.Ref);
        for (int i = 0; i < 3; i++) SameMask(dir.File($"p.{i}.png"), "point", i);
        Assert.True(File.Exists(dir.File("p.overlay.png")));

        var (code, output) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--image", image, "--point", "90,50", "--box", "30,20,120,100", "--multimask", "--output", dir.File("bp.png"), "-q");
        Assert.True(code == 0, output);
        for (int i = 0; i < 3; i++) SameMask(dir.File($"bp.{i}.png"), "box_point", i);

        // SAM-only options are refused in one line
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--model", "vit_b", "--image", image, "--box", "30,20,120,100", "--output", dir.File("x.png"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("SAM 2 checkpoint", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public void Auto_runs_a_sam2_checkpoint_and_refuses_a_damaged_one_in_one_line()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("sam", "auto", "--checkpoint", Sam2Fixture.TinyCheckpoint, "--image", Sam2Fixture.Photo,
            "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-thresh", "0", "--box-nms-thresh", "1", "--m2m", "--output", dir.File("auto"), "-q");
        Assert.True(code == 0, output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("auto"), "masks.json"))))
        {
            var anns = doc.RootElement.EnumerateArray().ToList();
            Assert.NotEmpty(anns);
            foreach (var a in anns) Assert.True(File.Exists(Path.Combine(dir.File("auto"), "masks", $"{a.GetProperty("id").GetInt32():D3}.png")));
        }
        // an unknown key: one line naming it, exit 2
        var tensors = Checkpoint.ReadPyTorch(Sam2Fixture.TinyCheckpoint);
        tensors["sam_mask_decoder.extra_head.weight"] = torch.zeros(3);
        SafeTensors.Save(dir.File("bad.safetensors"), tensors);
        foreach (var t in tensors.Values) t.Dispose();
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", dir.File("bad.safetensors"), "--image", Sam2Fixture.Photo, "--point", "70,60", "--output", dir.File("y.png"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("'sam_mask_decoder.extra_head.weight'", output);
        Assert.Single(output.Trim().Split('\n'));
        // a truncated .pt: refused before unpickling
        var bytes = File.ReadAllBytes(Sam2Fixture.TinyCheckpoint);
        File.WriteAllBytes(dir.File("cut.pt"), bytes[..(bytes.Length / 2)]);
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", dir.File("cut.pt"), "--image", Sam2Fixture.Photo, "--point", "70,60", "--output", dir.File("z.png"), "-q");
        Assert.Equal(2, code);
        Assert.Single(output.Trim().Split('\n'));
    }
}
