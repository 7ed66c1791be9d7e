using System.Globalization;

namespace Tessera.Tests;

/// <summary>seg train / test / predict / convert on tiny datasets of each layout (SegDatasetLayouts), through the CLI.</summary>
// Serial: bit-for-bit resume relies on the engine's seeding of libtorch's global generator.
[Collection("serial")]
public class SegDatasetCliTests
{
    private static string[] Train(string layout, string root, string outDir, int steps, params string[] extra) =>
        ["seg", "train", "--dataset", layout, "--data-root", root, "--model", "fcn", "--width", "16", "--steps", steps.ToString(CultureInfo.InvariantCulture),
         "--batch", "2", "--crop", "32", "--scale", "64,64", "--eval-every", steps.ToString(CultureInfo.InvariantCulture), "--loader-threads", "1",
         "--out", outDir, "--seed", "3", "-q", .. extra];

    /// <summary>Pixels that count (not 255) in the model's labels of a list of stored label maps.</summary>
    private static long Counted(IEnumerable<byte[]> labels) => labels.Sum(l => (long)l.Count(v => v != 255));

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private static long Total(JsonElement report) =>
        report.GetProperty("confusion_matrix").EnumerateArray().Sum(r => r.EnumerateArray().Sum(v => v.GetInt64()));

    [Theory]
    [InlineData("voc")]
    [InlineData("cityscapes")]
    [InlineData("ade20k")]
    [InlineData("custom")]
    public void Train_test_and_predict_on_each_layout(string layout)
    {
        using var dir = new TempDir();
        string root = dir.File("data");
        Directory.CreateDirectory(root);
        // The labels of the validation split as the model sees them (255 = ignored), written down independently of the readers.
        List<byte[]> val;
        int classes;
        switch (layout)
        {
            case "voc":
                val = SegDatasetLayouts.WriteVoc(root).Skip(3).ToList();
                classes = 21;
                break;
            case "cityscapes":
                var ids = SegDatasetLayouts.WriteCityscapes(root);
                var (code0, out0) = CliTests.Run("seg", "convert", "cityscapes", "--data-root", root, "-q");
                Assert.True(code0 == 0, out0);
                Assert.Contains("wrote 3", out0);
                // Scene labels 0–10 were written as label ids 7, 26, 24, …: the official table maps them to these trainIds.
                byte[] trainIdOf = new byte[256];
                Array.Fill(trainIdOf, (byte)255);
                foreach (var (id, t) in new (byte, byte)[] { (7, 0), (26, 13), (24, 11), (11, 2), (21, 8), (23, 10), (33, 18), (9, 255), (17, 5), (1, 255), (0, 255) }) trainIdOf[id] = t;
                val = [ids[2].Select(v => trainIdOf[v]).ToArray()];
                classes = 19;
                break;
            case "ade20k":
                val = [SegDatasetLayouts.WriteAde(root)[2].Select(v => v == 0 ? (byte)255 : (byte)(v - 1)).ToArray()];
                classes = 150;
                break;
            default:
                val = SegDatasetLayouts.WriteCustom(root).Skip(3).ToList();
                classes = 11;
                break;
        }

        var (code, output) = CliTests.Run(Train(layout, root, dir.File("run"), 2));
        Assert.True(code == 0, output);
        Assert.Contains("mIoU", output);
        string ckpt = Path.Combine(dir.File("run"), "checkpoint.safetensors");
        var metrics = Json(Path.Combine(dir.File("run"), "metrics.json"));
        Assert.Equal(classes, metrics.GetProperty("per_class").GetArrayLength());
        Assert.Equal(Counted(val), Total(metrics));

        (code, output) = CliTests.Run("seg", "test", "--checkpoint", ckpt, "--dataset", layout, "--data-root", root, "--split", "val",
            "--mode", "slide", "--crop", "48", "--stride", "16", "--json", dir.File("test.json"), "-q");
        Assert.True(code == 0, output);
        Assert.Contains("FWIoU", output);
        var report = Json(dir.File("test.json"));
        Assert.Equal(val.Count, report.GetProperty("num_images").GetInt32());
        Assert.Equal(Counted(val), Total(report));

        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--dataset", layout, "--data-root", root, "--split", "val",
            "--output", dir.File("pred"), "-q");
        Assert.True(code == 0, output);
        var labels = Directory.GetFiles(Path.Combine(dir.File("pred"), "labels"), "*.png");
        Assert.Equal(val.Count, labels.Length);
        Assert.Equal(val.Count, Directory.GetFiles(Path.Combine(dir.File("pred"), "overlays"), "*.png").Length);
        Assert.True(File.Exists(Path.Combine(dir.File("pred"), "summary.json")));
        foreach (string file in labels)
        {
            var map = LabelPng.Read(file);
            Assert.Equal((64, 64), (map.Width, map.Height)); // original resolution
            // ADE20K stores class + 1 (0 = other); the others store classes as they are.
            Assert.All(map.Labels, v => Assert.InRange(v, layout == "ade20k" ? 1 : 0, layout == "ade20k" ? classes : classes - 1));
        }
        if (layout == "voc") Assert.Contains("PLTE", System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(labels[0]))); // VOC's palette PNGs
        if (layout == "custom")
        {
            // The predictions scored by seg eval give seg test's numbers (whole mode both ways).
            (code, output) = CliTests.Run("seg", "test", "--checkpoint", ckpt, "--dataset", layout, "--data-root", root, "--json", dir.File("whole.json"), "-q");
            Assert.True(code == 0, output);
            (code, output) = CliTests.Run("seg", "eval", "--gt", Path.Combine(root, "ann_dir", "val"), "--pred", Path.Combine(dir.File("pred"), "labels"),
                "--num-classes", "11", "--json", dir.File("eval.json"), "-q");
            Assert.True(code == 0, output);
            Assert.Equal(Json(dir.File("whole.json")).GetProperty("confusion_matrix").ToString(), Json(dir.File("eval.json")).GetProperty("confusion_matrix").ToString());
        }
    }

    [Fact]
    public void Sharded_test_merged_equals_the_unsharded_test_and_sharded_predict_covers_every_item_once()
    {
        using var dir = new TempDir();
        string root = dir.File("data");
        SegDatasetLayouts.WriteVoc(root);
        Assert.Equal(0, CliTests.Run(Train("voc", root, dir.File("run"), 1)).Code);
        string ckpt = Path.Combine(dir.File("run"), "checkpoint.safetensors");
        // The training split has 3 images: one per shard.
        string[] Test(params string[] extra) => ["seg", "test", "--checkpoint", ckpt, "--dataset", "voc", "--data-root", root, "--split", "train", "-q", .. extra];
        var (code, output) = CliTests.Run(Test("--json", dir.File("all.json")));
        Assert.True(code == 0, output);
        for (int i = 0; i < 3; i++)
        {
            (code, output) = CliTests.Run(Test("--shard", $"{i}/3", "--json", dir.File($"part{i}.json")));
            Assert.True(code == 0, output);
            Assert.Equal(1, Json(dir.File($"part{i}.json")).GetProperty("num_images").GetInt32());
        }
        (code, output) = CliTests.Run("seg", "eval", "--merge", dir.File("part2.json"), dir.File("part0.json"), dir.File("part1.json"), "--json", dir.File("merged.json"), "-q");
        Assert.True(code == 0, output);
        var all = Json(dir.File("all.json"));
        var merged = Json(dir.File("merged.json"));
        foreach (string key in new[] { "confusion_matrix", "aAcc", "mIoU", "mAcc", "FWIoU", "num_images" })
            Assert.Equal(all.GetProperty(key).ToString(), merged.GetProperty(key).ToString());

        // predict in 3 shards, one interrupted (its label removed): a rerun redoes only that item.
        for (int i = 0; i < 3; i++)
            Assert.Equal(0, CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--dataset", "voc", "--data-root", root, "--split", "train", "--output", dir.File("pred"), "--shard", $"{i}/3", "-q").Code);
        var names = Directory.GetFiles(Path.Combine(dir.File("pred"), "labels")).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "2007_000000.png", "2007_000001.png", "2007_000002.png" }, names);
        File.Delete(Path.Combine(dir.File("pred"), "labels", "2007_000001.png"));
        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--dataset", "voc", "--data-root", root, "--split", "train", "--output", dir.File("pred"), "--shard", "1/3");
        Assert.True(code == 0, output);
        var summary = Json(Path.Combine(dir.File("pred"), "summary.shard-00001-of-00003.json"));
        Assert.Equal(1, summary.GetProperty("done").GetInt32());
        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--dataset", "voc", "--data-root", root, "--split", "train", "--output", dir.File("pred"), "--shard", "1/3");
        Assert.Equal(1, Json(Path.Combine(dir.File("pred"), "summary.shard-00001-of-00003.json")).GetProperty("skipped").GetInt32());
    }

    [Fact]
    public void Resumed_dataset_training_equals_uninterrupted_training_bit_for_bit()
    {
        using var dir = new TempDir();
        string root = dir.File("data");
        SegDatasetLayouts.WriteCustom(root);
        Assert.Equal(0, CliTests.Run(Train("custom", root, dir.File("straight"), 4, "--accumulate", "2", "--aux-head")).Code);
        Assert.Equal(0, CliTests.Run(Train("custom", root, dir.File("split"), 4, "--accumulate", "2", "--aux-head", "--stop-at", "2")).Code);
        var (code, output) = CliTests.Run(Train("custom", root, dir.File("split"), 4, "--accumulate", "2", "--aux-head", "--resume"));
        Assert.True(code == 0, output);
        Same.ModelWeights(dir.File("straight"), dir.File("split"), 4);
        using var a = SafeTensors.Load(Path.Combine(dir.File("straight"), "checkpoint.safetensors"));
        // The auxiliary FCN head sits on layer3 of the width-16 ResNet-18 (64 channels → 16 → 11 classes), and it trained.
        var auxConv = a.Tensors.Single(kv => kv.Key.StartsWith("model.auxiliary_head.", StringComparison.Ordinal) && kv.Value.shape.Length == 4 && kv.Value.shape[1] == 64);
        Assert.Equal(new long[] { 16, 64, 3, 3 }, auxConv.Value.shape);
        Assert.Equal(new long[] { 11, 16, 1, 1 }, a.Tensors.Single(kv => kv.Key.StartsWith("model.auxiliary_head.", StringComparison.Ordinal) && kv.Value.shape.Length == 4 && kv.Value.shape[0] == 11).Value.shape);
        // The recipe's defaults for datasets: SGD, weight decay 5e-4, poly.
        string training = a.Metadata[Training.CheckpointMetadata.TrainingKey];
        Assert.Contains("\"Optimizer\":\"Sgd\"", training);
        Assert.Contains("\"Schedule\":\"Poly\"", training);
        Assert.Contains("\"WeightDecay\":0.0005", training);
    }

    [Fact]
    public void A_bad_dataset_stops_before_training_naming_the_file()
    {
        using var dir = new TempDir();
        string root = dir.File("data");
        var labels = SegDatasetLayouts.WriteCustom(root);
        string bad = Path.Combine(root, "ann_dir", "train", "s1.png");
        var broken = labels[1].ToArray();
        broken[100] = 40; // above the 11 classes, not 255
        PalettePng.Write(bad, broken, 64, 64);
        var (code, output) = CliTests.Run(Train("custom", root, dir.File("run"), 1));
        Assert.Equal(2, code);
        Assert.Contains("s1.png", output);
        Assert.Contains("40", output);
        Assert.DoesNotContain("   at ", output);
        Assert.False(File.Exists(Path.Combine(dir.File("run"), "checkpoint.safetensors")));

        File.Delete(Path.Combine(root, "img_dir", "val", "s3.jpg"));
        (code, output) = CliTests.Run("seg", "test", "--checkpoint", dir.File("none.safetensors"), "--dataset", "custom", "--data-root", root);
        Assert.Equal(2, code);
        (code, output) = CliTests.Run("seg", "train", "--dataset", "pascal", "--data-root", root);
        Assert.Equal(2, code);
        Assert.Contains("--dataset", output);
    }
}
