using Tessera.Runtime.Sharding;

namespace Tessera.Tests;

/// <summary>The amg.py batch mode (<see cref="AutomaticMaskRun"/>) over a folder with the fixture's tiny official SAM, a corrupt image among the inputs.</summary>
public sealed class SamAmgBatchTests
{
    private static SamModel Tiny() => TinySam.Load(eval: false);

    private static string Folder(TempDir dir)
    {
        var io = TinySam.Io();
        string input = dir.File("in");
        Directory.CreateDirectory(input);
        ImageIO.SavePng(io["img0/image"].permute(2, 0, 1), Path.Combine(input, "a.png"));
        ImageIO.SavePng(io["img1/image"].permute(2, 0, 1), Path.Combine(input, "b.png"));
        File.WriteAllBytes(Path.Combine(input, "c.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        File.WriteAllText(Path.Combine(input, "notes.txt"), "not an image");
        return input;
    }

    // Loose thresholds so the random tiny model yields masks.
    private static AmgOptions Options(int perBatch) => new(PointsPerSide: 6, PointsPerBatch: perBatch, PredIouThreshold: 0, StabilityScoreThreshold: 0.5);

    [Fact]
    public void Folder_mode_writes_official_pngs_and_metadata_skips_done_images_and_reports_corrupt_ones()
    {
        using var dir = new TempDir();
        string input = Folder(dir), output = dir.File("out");
        using var model = Tiny();
        using var predictor = new SamPredictor(model);
        var run = new AutomaticMaskRun(new AutomaticMaskGenerator(predictor, Options(7)));
        var seen = new List<AmgRunProgress>();
        var (summary, masks) = run.Run(input, output, progress: new Recorder<AmgRunProgress>(seen));
        Assert.Equal(2, summary.Done);
        Assert.Equal(0, summary.Skipped);
        var failure = Assert.Single(summary.Failed);
        Assert.Equal("c.png", failure.Key);
        Assert.Contains("c.png", failure.Value);
        Assert.True(masks > 0);
        Assert.Equal([(1, "a.png"), (2, "b.png"), (3, "c.png")], seen.Select(p => (p.Handled, Path.GetFileName(p.Image))));
        Assert.Equal([ItemOutcome.Done, ItemOutcome.Done, ItemOutcome.Failed], seen.Select(p => p.Outcome));
        Assert.False(Directory.Exists(Path.Combine(output, "c")));
        foreach (string name in new[] { "a", "b" })
        {
            var lines = File.ReadAllText(Path.Combine(output, name, "metadata.csv")).Split('\n');
            Assert.Equal(AmgPngFolder.MetadataHeader, lines[0]);
            Assert.Equal(lines.Length - 1, Directory.GetFiles(Path.Combine(output, name), "*.png").Length);
            for (int i = 1; i < lines.Length; i++)
            {
                var f = lines[i].Split(',');
                Assert.Equal(14, f.Length);
                Assert.Equal((i - 1).ToString(), f[0]);
                var png = LabelPng.Read(Path.Combine(output, name, $"{i - 1}.png"));
                Assert.All(png.Labels, v => Assert.True(v is 0 or 255));
                var on = Enumerable.Range(0, png.Labels.Length).Where(p => png.Labels[p] == 255).ToList();
                Assert.Equal(on.Count.ToString(), f[1]);
                // bbox is the official XYWH of the inclusive pixel extent (w = x1 − x0).
                int x0 = on.Min(p => p % png.Width), x1 = on.Max(p => p % png.Width), y0 = on.Min(p => p / png.Width), y1 = on.Max(p => p / png.Width);
                Assert.Equal(new[] { x0, y0, x1 - x0, y1 - y0 }.Select(v => v.ToString()), f[2..6]);
                Assert.Contains('.', f[6]); // point coordinates are Python floats
                Assert.Equal(new[] { "0", "0", png.Width.ToString(), png.Height.ToString() }, f[10..14]);
            }
        }
        // A second run skips what is done and fails the corrupt image again; an unfinished folder is redone.
        File.Delete(Path.Combine(output, "b", "metadata.csv"));
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(output, "a", "metadata.csv"));
        var again = run.Run(input, output).Summary;
        Assert.Equal((1, 1, 1), (again.Done, again.Skipped, again.Failed.Count));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(output, "a", "metadata.csv")));
        Assert.True(File.Exists(Path.Combine(output, "b", "metadata.csv")));
    }

    [Fact]
    public void Rle_mode_writes_sa1b_fields_and_points_per_batch_does_not_change_the_masks()
    {
        using var dir = new TempDir();
        string input = Folder(dir);
        using var model = Tiny();
        using var predictor = new SamPredictor(model);
        var wide = new AutomaticMaskRun(new AutomaticMaskGenerator(predictor, Options(64)), AmgOutput.CocoRleJson).Run(input, dir.File("wide"));
        var narrow = new AutomaticMaskRun(new AutomaticMaskGenerator(predictor, Options(5)), AmgOutput.CocoRleJson).Run(input, dir.File("narrow"));
        Assert.Equal((2, 1), (wide.Summary.Done, wide.Summary.Failed.Count));
        Assert.Equal(wide.Masks, narrow.Masks);
        foreach (string name in new[] { "a.json", "b.json" })
        {
            string text = File.ReadAllText(Path.Combine(dir.File("wide"), name));
            using var doc = JsonDocument.Parse(text);
            using var other = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("narrow"), name)));
            Assert.True(doc.RootElement.GetArrayLength() > 0);
            Assert.Equal(doc.RootElement.GetArrayLength(), other.RootElement.GetArrayLength());
            foreach (var (ann, twin) in doc.RootElement.EnumerateArray().Zip(other.RootElement.EnumerateArray()))
            {
                // Same masks, boxes and points; the scores may differ in the last float digits (matrix products of another batch size).
                foreach (string key in new[] { "segmentation", "area", "bbox", "point_coords", "crop_box" })
                    Assert.Equal(ann.GetProperty(key).GetRawText(), twin.GetProperty(key).GetRawText());
                foreach (string key in new[] { "predicted_iou", "stability_score" })
                    Assert.Equal(ann.GetProperty(key).GetDouble(), twin.GetProperty(key).GetDouble(), 1e-5);
                Assert.Equal(["segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"], ann.EnumerateObject().Select(p => p.Name));
                var seg = ann.GetProperty("segmentation");
                int h = seg.GetProperty("size")[0].GetInt32(), w = seg.GetProperty("size")[1].GetInt32();
                var rle = MaskRle.FromCocoString(seg.GetProperty("counts").GetString()!, h, w);
                Assert.Equal(ann.GetProperty("area").GetInt64(), rle.Decode().LongCount(v => v));
                Assert.Equal(2, ann.GetProperty("point_coords")[0].GetArrayLength());
            }
        }
    }

    /// <summary>An <see cref="IProgress{T}"/> that keeps every report, in order.</summary>
    private sealed class Recorder<T>(List<T> seen) : IProgress<T>
    {
        public void Report(T value) => seen.Add(value);
    }

    [Fact]
    public void Python_float_formatting()
    {
        Assert.Equal("16.0", AmgJson.PyFloat(16));
        Assert.Equal("0.1", AmgJson.PyFloat(0.1));
        Assert.Equal("1e-05", AmgJson.PyFloat(1e-5));
        Assert.Equal("0.9234567284584045", AmgJson.PyFloat((double)0.92345673f));
    }
}
