using Tessera.Segmentation.Sam.Training;

namespace Tessera.Tests;

/// <summary>Click simulation against brute force, and promptable SAM training: resume, memory, bad options.</summary>
// Serial: the memory test holds the process in a no-GC region; the trainer seeds libtorch's global generator (torch.manual_seed).
[Collection("serial")]
public sealed class SamTrainingTests
{
    [Fact]
    public void Distance_transform_equals_brute_force()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 30; trial++)
        {
            int h = random.Next(1, 14), w = random.Next(1, 14);
            var region = Enumerable.Range(0, h * w).Select(_ => random.NextDouble() < 0.7).ToArray();
            var d = ClickSimulation.SquaredDistanceToOutside(region, h, w);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    if (!region[y * w + x]) { Assert.Equal(0, d[y * w + x]); continue; }
                    // Nearest outside pixel, the one-pixel ring around the image included.
                    double best = double.MaxValue;
                    for (int yy = -1; yy <= h; yy++)
                        for (int xx = -1; xx <= w; xx++)
                        {
                            bool outside = yy < 0 || yy >= h || xx < 0 || xx >= w || !region[yy * w + xx];
                            if (outside) best = Math.Min(best, (double)(yy - y) * (yy - y) + (double)(xx - x) * (xx - x));
                        }
                    Assert.Equal(best, d[y * w + x]);
                }
        }
    }

    [Fact]
    public void Clicks_go_to_the_object_centre_then_to_the_larger_error()
    {
        const int h = 20, w = 20;
        var truth = new bool[h * w];
        for (int y = 4; y <= 12; y++) for (int x = 2; x <= 10; x++) truth[y * w + x] = true; // 9 × 9 square, centre (6, 8)
        Assert.Equal(new Click(6, 8, true), ClickSimulation.First(truth, h, w));
        // Prediction = truth plus a 5 × 5 false-positive block: the next click is negative, at that block's centre.
        var pred = (bool[])truth.Clone();
        for (int y = 12; y <= 16; y++) for (int x = 13; x <= 17; x++) pred[y * w + x] = true;
        Assert.Equal(new Click(15, 14, false), ClickSimulation.Next(truth, pred, h, w));
        // Prediction missing columns 2–5 of the square: inside that strip the largest distance to its boundary is 2
        // (columns 3 and 4, rows 5–11); ties go to the first pixel in row-major order, as np.where gives them.
        var partial = (bool[])truth.Clone();
        for (int y = 4; y <= 12; y++) for (int x = 2; x <= 5; x++) partial[y * w + x] = false;
        Assert.Equal(new Click(3, 5, true), ClickSimulation.Next(truth, partial, h, w));
        Assert.Null(ClickSimulation.Next(truth, truth, h, w));
    }

    private static string[] Train(string outDir, int steps, params string[] extra) =>
        ["sam", "train", "--width", "64", "--depth", "2", "--batch", "2", "--rounds", "2", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--eval-every", "3", "--eval-scenes", "2", "--out", outDir, "--seed", "3", "-q", .. extra];

    [Fact]
    public void Resumed_training_equals_uninterrupted_training_and_the_model_file_serves_segment()
    {
        using var dir = new TempDir();
        CliTests.AssertResumeEqualsStraight(dir, Train, 5, stopAt: 2);
        Assert.Equal(File.ReadAllLines(Path.Combine(dir.File("straight"), "curve.csv")), File.ReadAllLines(Path.Combine(dir.File("split"), "curve.csv")));

        // model.safetensors is a plain SAM checkpoint: eval and segment take it as it is.
        string model = Path.Combine(dir.File("split"), "model.safetensors");
        var (code, output) = CliTests.Run("sam", "eval", "--checkpoint", model, "--scenes", "2", "--clicks", "3", "-q");
        Assert.Equal(0, code);
        Assert.Contains("3 clicks", output);
        using var scenes = new FashionMnistScenes(Tessera.Data.FashionMnist.Load(Tessera.Data.Split.Test), new SceneOptions()).Generate(0, 1);
        ImageIO.SavePng(scenes.Images[0], dir.File("scene.png"));
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", model, "--image", dir.File("scene.png"), "--point", "30,30", "--output", dir.File("m.png"), "-q");
        Assert.True(code == 0, output);

        // Fine-tuning a loaded checkpoint with the encoder frozen: the encoder stays bit for bit, the decoder moves.
        Assert.Equal(0, CliTests.Run("sam", "train", "--init", model, "--freeze-encoder", "--batch", "2", "--rounds", "2", "--steps", "2", "--eval-every", "2", "--eval-scenes", "2",
            "--out", dir.File("tune"), "-q").Code);
        using (var before = SafeTensors.Load(model))
        using (var after = SafeTensors.Load(Path.Combine(dir.File("tune"), "model.safetensors")))
        {
            Assert.All(before.Tensors.Where(kv => kv.Key.StartsWith("image_encoder.", StringComparison.Ordinal)), kv => Assert.True(Same.Tensors(kv.Value, after.Tensors[kv.Key]), kv.Key));
            Assert.Contains(before.Tensors.Where(kv => kv.Key.StartsWith("mask_decoder.", StringComparison.Ordinal)), kv => !Same.Tensors(kv.Value, after.Tensors[kv.Key]));
        }

        // Bad options.
        Assert.Equal(2, CliTests.Run(Train(dir.File("x"), 2, "--freeze-encoder")).Code);
        Assert.Equal(2, CliTests.Run(Train(dir.File("split"), 5, "--resume", "--width", "128")).Code);
    }

    [Fact]
    public void Training_steps_leave_no_tensors_behind()
    {
        var options = new SamTrainOptions
        {
            Config = SamTrainOptions.SmallConfig with { EncoderDim = 64, EncoderHeads = 2, EncoderDepth = 2, GlobalAttentionBlocks = [1], PromptDim = 64, DecoderHeads = 2, DecoderMlpDim = 128, IouHeadHiddenDim = 64 },
            Training = SamTrainOptions.DefaultTraining with { Steps = 14, Batch = 2, EvalEvery = 1000, CheckpointEvery = 1000 },
            Rounds = 2,
            EvalScenes = 1,
        };
        using var dir = new TempDir();
        var counts = new List<long>();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        bool noGc = GC.TryStartNoGCRegion(240_000_000);
        // Without the no-GC region, finalisers of tensors other tests leaked could move the count mid-run.
        Assert.True(noGc, "the runtime refused a no-GC region of 240 MB; the live-tensor count would not be protected from finalisers");
        try
        {
            new SamTrainer(options).Train(dir.Path, resume: false, new InlineProgress<TrainingProgress>(_ => counts.Add(torch.Tensor.TotalCount)));
        }
        finally
        {
            if (noGc && System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
        // After warm-up (optimiser state appears at step 1), the live-tensor count stays where it is.
        Assert.Equal(counts[2], counts[^2]);
    }
}
