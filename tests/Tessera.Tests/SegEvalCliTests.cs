namespace Tessera.Tests;

public class SegEvalCliTests
{
    private static void Write(string path, int w, int h, byte[] labels, bool palette = false) =>
        File.WriteAllBytes(path, PngWriter.Indexed(w, h, labels, 8, palette ? 3 : 0, 4));

    /// <summary>
    /// gt/ and pred/ under a new folder with <paramref name="images"/> random label PNGs of growing sizes: ground truth
    /// in 0 … classes − 1 with about a fifth ignored (255), predictions in 0 … classes − 1.
    /// </summary>
    internal static TempDir RandomFolders(int images, int classes, int seed)
    {
        var dir = new TempDir();
        Directory.CreateDirectory(dir.File("gt"));
        Directory.CreateDirectory(dir.File("pred"));
        var rng = new Random(seed);
        for (int i = 0; i < images; i++)
        {
            int w = 3 + i, h = 2 + i % 3;
            byte[] gt = Enumerable.Range(0, w * h).Select(_ => (byte)(rng.Next(5) == 0 ? 255 : rng.Next(classes))).ToArray();
            byte[] pred = Enumerable.Range(0, w * h).Select(_ => (byte)rng.Next(classes)).ToArray();
            Write(Path.Combine(dir.File("gt"), $"i{i:D2}.png"), w, h, gt);
            Write(Path.Combine(dir.File("pred"), $"i{i:D2}.png"), w, h, pred);
        }
        return dir;
    }

    private static TempDir Folders()
    {
        var dir = new TempDir();
        Directory.CreateDirectory(dir.File("gt"));
        Directory.CreateDirectory(dir.File("pred"));
        // Two images of different sizes; together they are the hand-worked case of SegMetricsTests:
        // gt [0,0,1,1,2,255], pred [0,1,1,1,0,2].
        Write(Path.Combine(dir.File("gt"), "a.png"), 2, 2, [0, 0, 1, 1]);
        Write(Path.Combine(dir.File("pred"), "a.png"), 2, 2, [0, 1, 1, 1], palette: true);
        Write(Path.Combine(dir.File("gt"), "b.png"), 2, 1, [2, 255], palette: true);
        Write(Path.Combine(dir.File("pred"), "b.png"), 2, 1, [0, 2]);
        return dir;
    }

    [Fact]
    public void Eval_writes_json_with_exactly_the_documented_keys()
    {
        using var dir = Folders();
        File.WriteAllLines(dir.File("names.txt"), ["background", "shirt", "shoe"]);
        var (code, output) = CliTests.Run("seg", "eval", "--gt", dir.File("gt"), "--pred", dir.File("pred"), "--num-classes", "3",
            "--class-names", dir.File("names.txt"), "--json", dir.File("r.json"), "--confusion-png", dir.File("cm.png"));
        Assert.Equal(0, code);
        Assert.Contains("mIoU 33.33", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        var root = doc.RootElement;
        Assert.Equal(new[] { "aAcc", "mIoU", "mAcc", "mDice", "mFscore", "FWIoU", "per_class", "confusion_matrix", "num_images", "confusion" },
            root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(0.6, root.GetProperty("aAcc").GetDouble(), 12);
        Assert.Equal(0.4, root.GetProperty("FWIoU").GetDouble(), 12);
        Assert.Equal(2, root.GetProperty("num_images").GetInt32());
        var shoe = root.GetProperty("per_class")[2];
        Assert.Equal("shoe", shoe.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Null, shoe.GetProperty("Precision").ValueKind);
        Assert.Equal(new[] { "name", "IoU", "Acc", "Dice", "Precision", "Recall", "Fscore" }, shoe.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(2, root.GetProperty("confusion_matrix")[1][1].GetInt64());
        using var png = Tessera.IO.ImageIO.Load(dir.File("cm.png"), Tessera.IO.ColorMode.Rgb);
        Assert.Equal(png.shape[1], png.shape[2]);
    }

    [Fact]
    public void Shard_reports_merge_to_the_single_run_exactly()
    {
        using var dir = RandomFolders(images: 7, classes: 4, seed: 5);
        string[] Args(params string[] extra) => ["seg", "eval", "--gt", dir.File("gt"), "--pred", dir.File("pred"), "--num-classes", "4", .. extra];
        var (code, single) = CliTests.Run(Args("--json", dir.File("all.json")));
        Assert.Equal(0, code);
        for (int s = 0; s < 3; s++)
        {
            (code, var output) = CliTests.Run(Args("--shard", $"{s}/3", "--json", dir.File($"part{s}.json")));
            Assert.Equal(0, code);
            Assert.Contains($"shard {s}/3", output);
        }
        // one --merge followed by several files, as a shell glob gives them
        (code, var merged) = CliTests.Run("seg", "eval", "--merge", dir.File("part2.json"), dir.File("part0.json"), dir.File("part1.json"), "--json", dir.File("merged.json"));
        Assert.Equal(0, code);
        string Line(string output) => output.Split('\n').Single(l => l.StartsWith("aAcc", StringComparison.Ordinal));
        Assert.Equal(Line(single), Line(merged));
        using var a = JsonDocument.Parse(File.ReadAllText(dir.File("all.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(dir.File("merged.json")));
        foreach (var key in new[] { "aAcc", "mIoU", "mAcc", "FWIoU", "mDice" })
            Assert.Equal(a.RootElement.GetProperty(key).GetDouble(), b.RootElement.GetProperty(key).GetDouble());
        Assert.Equal(a.RootElement.GetProperty("confusion_matrix").ToString(), b.RootElement.GetProperty("confusion_matrix").ToString());
        Assert.Equal(7, b.RootElement.GetProperty("num_images").GetInt32());

        // a missing or repeated shard is refused
        (code, var err) = CliTests.Run("seg", "eval", "--merge", dir.File("part0.json"), dir.File("part1.json"));
        Assert.Equal(2, code);
        Assert.Contains("shard 2/3 is missing", err);
        (code, err) = CliTests.Run("seg", "eval", "--merge", dir.File("part0.json"), dir.File("part0.json"), dir.File("part1.json"));
        Assert.Equal(2, code);
        Assert.Contains("again", err);
    }

    [Fact]
    public void Bad_inputs_exit_2_naming_the_file()
    {
        using var dir = Folders();
        string[] Args(params string[] extra) => ["seg", "eval", "--gt", dir.File("gt"), "--pred", dir.File("pred"), "--num-classes", "3", .. extra];

        File.Copy(Path.Combine(dir.File("gt"), "a.png"), Path.Combine(dir.File("gt"), "c.png"));
        var (code, output) = CliTests.Run(Args());
        Assert.Equal(2, code);
        Assert.Contains("c.png", output);
        (code, output) = CliTests.Run(Args("--on-missing", "skip"));
        Assert.Equal(0, code);
        Assert.Contains("skipped 1 ground-truth file", output);
        File.Delete(Path.Combine(dir.File("gt"), "c.png"));

        (code, output) = CliTests.Run(["seg", "eval", "--gt", dir.File("gt"), "--pred", dir.File("pred"), "--num-classes", "2"]);
        Assert.Equal(2, code);
        Assert.Contains("label 2 is not a class", output);

        Write(Path.Combine(dir.File("pred"), "b.png"), 1, 2, [0, 2]);
        (code, output) = CliTests.Run(Args());
        Assert.Equal(2, code);
        Assert.Contains("b.png", output);
        Assert.Contains("1x2", output);

        using (var rgb = TorchSharp.torch.zeros(3, 1, 2, dtype: TorchSharp.torch.ScalarType.Byte))
            Tessera.IO.ImageIO.SavePng(rgb, Path.Combine(dir.File("pred"), "b.png"));
        (code, output) = CliTests.Run(Args());
        Assert.Equal(2, code);
        Assert.Contains("RGB", output);

        File.WriteAllText(Path.Combine(dir.File("pred"), "b.png"), "text");
        (code, output) = CliTests.Run(Args());
        Assert.Equal(2, code);
        Assert.Contains("b.png", output);
        Assert.Contains("not a PNG", output);

        File.WriteAllText(Path.Combine(dir.File("pred"), "notes.txt"), "text");
        (code, output) = CliTests.Run(Args());
        Assert.Equal(2, code);
        Assert.Contains("notes.txt", output);

        Directory.CreateDirectory(dir.File("empty"));
        (code, output) = CliTests.Run(["seg", "eval", "--gt", dir.File("empty"), "--pred", dir.File("pred"), "--num-classes", "3"]);
        Assert.Equal(2, code);
        Assert.Contains("no PNG files", output);

        (code, output) = CliTests.Run(["seg", "eval", "--gt", dir.File("gt"), "--num-classes", "3"]);
        Assert.Equal(2, code);
        Assert.Contains("--pred", output);
    }
}
