using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// <c>tessera sam train --dataset coco</c> with the fixture's tiny SAM 2.1 (tests/fixtures/sam2): the loss falls, the
/// fine-tuned model.pt has the input checkpoint's key set and shapes and loads with <see cref="Sam2Model.Load"/> (the
/// official build_sam2 loads it too: tests/fixtures/sam2/train/check_official_load.py), a resumed run ends where a
/// straight one does, and misuse exits 2 with one line.
/// </summary>
public sealed class Sam2FineTuneCliTests(ITestOutputHelper log)
{
    private static string[] Train(string root, string run, int steps, params string[] extra) =>
        ["sam", "train", "--init", Sam2Fixture.TinyCheckpoint, "--dataset", "coco", "--data-root", root, "--split", "train", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--batch", "2", "--rounds", "2", "--lr", "1e-3", "--seed", "7", "--freeze-encoder", "--out", run, "-q", .. extra];

    private static double[] Losses(string run) =>
        [.. File.ReadLines(Path.Combine(run, "curve.csv")).Skip(1).Select(l => l.Split(',')).Where(p => p[1] == "train").Select(p => double.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture))];

    private static bool Equal(torch.Tensor a, torch.Tensor b) => a.eq(b).all().item<bool>();

    [Fact]
    public void Fine_tuning_with_cached_features_lowers_the_loss_and_writes_the_official_layout()
    {
        using var dir = new TempDir();
        var (_, root) = SamFineTuneCliTests.Prepare(dir);
        string cache = dir.File("cache"), run = dir.File("run");
        var (code, output) = CliTests.Run(Train(root, run, 24, "--embedding-cache", cache, "--warmup", "0"));
        Assert.True(code == 0, output);
        Assert.Contains("model.pt", output);
        Assert.Contains("embedding cache: ", output);
        var losses = Losses(run);
        double first = losses.Take(6).Average(), last = losses.TakeLast(6).Average();
        log.WriteLine($"mean loss of steps 1-6 {first:0.0000}, of steps 19-24 {last:0.0000}");
        Assert.True(last < 0.8 * first, $"loss {first} → {last}");

        string tuned = Path.Combine(run, "model.pt");
        var input = Checkpoint.ReadPyTorch(Sam2Fixture.TinyCheckpoint);
        var output2 = Checkpoint.ReadPyTorch(tuned);
        try
        {
            Assert.Equal(input.Keys.Order(StringComparer.Ordinal), output2.Keys.Order(StringComparer.Ordinal));
            foreach (var (k, t) in input) Assert.True(t.shape.SequenceEqual(output2[k].shape), k);
            // The decoder changed, the image encoder and the video parts did not.
            Assert.Contains(input.Keys, k => k.StartsWith("sam_mask_decoder.", StringComparison.Ordinal) && !Equal(input[k], output2[k]));
            Assert.All(input.Keys.Where(k => k.StartsWith("image_encoder.", StringComparison.Ordinal) || Sam2Model.IsVideoKey(k)), k => Assert.True(Equal(input[k], output2[k]), k));
        }
        finally
        {
            foreach (var t in input.Values.Concat(output2.Values)) t.Dispose();
        }
        using var loaded = Sam2Model.Load(tuned);
        Assert.NotEmpty(loaded.VideoWeights);
    }

    [Fact]
    public void A_resumed_run_ends_where_a_straight_one_does()
    {
        using var dir = new TempDir();
        var (_, root) = SamFineTuneCliTests.Prepare(dir);
        // One cache for the three runs: the tiny model's encoder runs once per image (it is slow at 1024² on a CPU).
        string cache = dir.File("cache");
        CliTests.AssertResumeEqualsStraight(dir, (run, steps, extra) => Train(root, run, steps, [.. extra, "--embedding-cache", cache]), 4, 2);
    }

    [Theory]
    [InlineData("--lora-rank", "--lora-rank")]
    [InlineData("--scenes", "--init")]
    public void Misuse_with_a_SAM_2_checkpoint_exits_2_with_one_line(string what, string mention)
    {
        using var dir = new TempDir();
        var (_, root) = SamFineTuneCliTests.Prepare(dir);
        string[] args = what == "--lora-rank"
            ? Train(root, dir.File("run"), 2, "--lora-rank", "2")
            : ["sam", "train", "--init", Sam2Fixture.TinyCheckpoint, "--steps", "2", "--out", dir.File("run"), "-q"];
        var (code, output) = CliTests.Run(args);
        Assert.Equal(2, code);
        Assert.Single(output.Trim().Split('\n'));
        Assert.Contains(mention, output);
    }
}
