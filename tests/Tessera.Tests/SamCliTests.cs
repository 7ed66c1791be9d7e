namespace Tessera.Tests;

/// <summary><c>tessera sam segment|auto</c> with the fixture's tiny official SAM, saved by Tessera as safetensors.</summary>
public sealed class SamCliTests
{
    private static string Dir => TinySam.Dir;

    private static (string Checkpoint, string Image) Prepare(TempDir dir)
    {
        return (TinySam.SaveSafetensors(dir.File("tiny.safetensors")), TinySam.SaveImage(TinySam.Io(), 0, dir.File("img0.png")));
    }

    private static bool[] ReadMask(string path) => LabelPng.Read(path).Labels.Select(v => v == 255).ToArray();

    [Fact]
    public void Segment_writes_the_official_masks_for_points_and_boxes()
    {
        using var dir = new TempDir();
        var (ckpt, image) = Prepare(dir);
        var io = TensorIndexFile.Read(Path.Combine(Dir, "sam_tiny_io.bin"));

        var (code, output) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--image", image, "--point", "62,33", "--point", "18.5,50.25,0", "--multimask", "--output", dir.File("m.png"), "-q");
        Assert.Equal(0, code);
        var iou = io["img0/points2/multi/iou_predictions"][0].data<float>().ToArray();
        int best = Array.IndexOf(iou, iou.Max());
        var want = io["img0/points2/multi/masks"][0, best].flatten().data<bool>().ToArray();
        var logits = io["img0/points2/multi/masks_logits"][0, best].flatten().data<float>().ToArray();
        var got = ReadMask(dir.File("m.png"));
        Assert.Equal(want.Length, got.Length);
        Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(want[i] == got[i] || Math.Abs(logits[i]) < 1e-3, $"pixel {i}"));
        Assert.True(File.Exists(dir.File("m.overlay.png")) && File.Exists(dir.File("m.2.png")));
        Assert.Contains("(best)", output);

        // -o (and --out), the former name of --output, still works.
        (code, _) = CliTests.Run("sam", "segment", "--checkpoint", ckpt, "--image", image, "--box", "41,14,88,55", "-o", dir.File("b.png"), "-q");
        Assert.Equal(0, code);
        want = io["img0/box/single/masks"].flatten().data<bool>().ToArray();
        logits = io["img0/box/single/masks_logits"].flatten().data<float>().ToArray();
        got = ReadMask(dir.File("b.png"));
        Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(want[i] == got[i] || Math.Abs(logits[i]) < 1e-3, $"pixel {i}"));
    }

    [Fact]
    public void Bad_prompts_images_and_checkpoints_exit_2_with_a_reason()
    {
        using var dir = new TempDir();
        var (ckpt, image) = Prepare(dir);
        File.WriteAllText(dir.File("not-an-image.png"), "hello");
        using (var t = torch.zeros(2)) SafeTensors.Save(dir.File("other.safetensors"), [new("w", t)]);
        (string[] Args, string Reason)[] cases =
        [
            (["--image", dir.File("not-an-image.png"), "--point", "1,1"], "not a decodable image"),
            (["--point", "500,3"], "outside"),
            (["--box", "50,10,40,20"], "x1 < x0"),
            (["--point", "1,a"], "--point '1,a'"),
            (["--point", "1,2,7"], "label must be 1"),
            (["--box", "1,2,3"], "--box '1,2,3'"),
            (["--checkpoint", dir.File("other.safetensors"), "--point", "1,1"], "not a Segment Anything checkpoint"),
            (["--model", "vit_b", "--point", "1,1"], "not the requested width 768"),
            ([], "give at least one --point or a --box"),
        ];
        foreach (var (args, reason) in cases)
        {
            string[] full = ["sam", "segment", "--checkpoint", ckpt, "--image", image, "--output", dir.File("x.png"), .. args];
            var (code, output) = CliTests.Run(full);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}: {output}");
            Assert.Contains(reason, output);
            Assert.DoesNotContain("   at ", output);
        }
    }

    [Fact]
    public void Auto_writes_masks_an_overlay_and_coco_rles_that_decode_to_them()
    {
        using var dir = new TempDir();
        var (ckpt, image) = Prepare(dir);
        var (code, output) = CliTests.Run("sam", "auto", "--checkpoint", ckpt, "--image", image, "--out", dir.File("auto"),
            "--points-per-side", "6", "--pred-iou-thresh", "0", "--stability-thresh", "0.5", "-q");
        Assert.True(code == 0, output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("auto"), "masks.json")));
        var anns = doc.RootElement.EnumerateArray().ToList();
        Assert.NotEmpty(anns);
        foreach (var a in anns)
        {
            var seg = a.GetProperty("segmentation");
            var rle = MaskRle.FromCocoString(seg.GetProperty("counts").GetString()!, seg.GetProperty("size")[0].GetInt32(), seg.GetProperty("size")[1].GetInt32());
            var mask = rle.Decode();
            var png = ReadMask(Path.Combine(dir.File("auto"), "masks", $"{a.GetProperty("id").GetInt32():D3}.png"));
            Assert.Equal(mask, png);
            Assert.Equal(a.GetProperty("area").GetInt64(), mask.Count(v => v));
            Assert.True(a.GetProperty("stability_score").GetDouble() >= 0.5);
            var box = a.GetProperty("bbox").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            var tight = SmallRegions.Box(mask, 70, 100);
            Assert.Equal(new[] { tight[0], tight[1], tight[2] - tight[0], tight[3] - tight[1] }, box);
        }
        Assert.True(File.Exists(Path.Combine(dir.File("auto"), "overlay.png")));
    }
}
