using Tessera.Diffusion.Evaluation;
using Tessera.Diffusion.Training;

namespace Tessera.Tests;

/// <summary>The Fréchet distance against closed forms, and the classifier + diffusion eval path end to end.</summary>
public sealed class SampleQualityTests
{
    private static torch.Tensor M(double[,] a) => torch.tensor(a.Cast<double>().ToArray(), [a.GetLength(0), a.GetLength(1)], torch.ScalarType.Float64);

    [Fact]
    public void Frechet_distance_matches_closed_forms()
    {
        var mu1 = torch.tensor(new double[] { 1, 2 });
        var mu2 = torch.tensor(new double[] { 0, -1 });
        // Diagonal covariances: ‖Δμ‖² + Σ(√a − √b)².
        double d = FrechetDistance.Compute(mu1, M(new double[,] { { 4, 0 }, { 0, 9 } }), mu2, M(new double[,] { { 1, 0 }, { 0, 16 } }));
        Assert.Equal(1 + 9 + 1 + 1, d, 10);
        // Non-commuting 2 × 2: Tr √(Σ₁^½Σ₂Σ₁^½) = √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂)).
        var s1 = M(new double[,] { { 2, 0.7 }, { 0.7, 1 } });
        var s2 = M(new double[,] { { 1, -0.3 }, { -0.3, 3 } });
        double tr12 = torch.matmul(s1, s2).trace().item<double>();
        double det1 = 2 * 1 - 0.49, det2 = 3 - 0.09;
        double expected = 10 + 3 + 4 - 2 * Math.Sqrt(tr12 + 2 * Math.Sqrt(det1 * det2));
        Assert.Equal(expected, FrechetDistance.Compute(mu1, s1, mu2, s2), 10);
        // Same distribution: zero (up to rounding).
        Assert.Equal(0, FrechetDistance.Compute(mu1, s1, mu1, s1), 10);
        // From samples: a shift of the features by c adds ‖c‖² only.
        var f = torch.randn(500, 3, torch.ScalarType.Float64, generator: new torch.Generator(5));
        Assert.Equal(0.25 * 3, FrechetDistance.Compute(f, f + 0.5), 10);
    }

    [Fact]
    public void Classifier_trains_and_diffusion_eval_reports_a_table()
    {
        using var dir = new TempDir();
        var (classifier, accuracy) = FashionClassifier.Train(dir.File("cls.safetensors"), epochs: 2, seed: 1, limit: 2000);
        classifier.Dispose();
        Assert.True(accuracy > 0.6, $"test accuracy {accuracy:P1}");
        var (code, output) = CliTests.Run("diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--steps", "2", "--batch", "4", "--limit", "8",
            "--sample-every", "0", "--conditional", "--out", dir.File("run"), "-q");
        Assert.Equal(0, code);
        (code, output) = CliTests.Run("diffusion", "eval", "--checkpoint", Path.Combine(dir.File("run"), "checkpoint.safetensors"), "--classifier", dir.File("cls.safetensors"),
            "--samplers", "euler,heun", "--steps", "2", "-n", "12", "-q");
        Assert.True(code == 0, output);
        Assert.Contains("heun steps 2 NFE 3: Fréchet distance", output);
        Assert.Contains("class accuracy", output);
        Assert.Contains("reference: 12 training images against 12 test images", output);

        // diffusion sample --out-dir feeds diffusion eval --samples: the folder of one PNG per seed is scored.
        (code, output) = CliTests.Run("diffusion", "sample", "--checkpoint", Path.Combine(dir.File("run"), "checkpoint.safetensors"), "--steps", "2", "--seeds", "0-11",
            "--out-dir", dir.File("samples"), "-q");
        Assert.True(code == 0, output);
        (code, output) = CliTests.Run("diffusion", "eval", "--samples", dir.File("samples"), "--classifier", dir.File("cls.safetensors"), "-q");
        Assert.True(code == 0, output);
        Assert.Contains("12 images in", output);
        Assert.Contains("against 12 test images", output);
        // Real images score 0: the first 200 test images as PNGs against the statistics of the first 200 test images.
        using (var test = Tessera.Data.FashionMnist.Load(Tessera.Data.Split.Test))
        {
            Directory.CreateDirectory(dir.File("real"));
            for (int i = 0; i < 200; i++)
            {
                using var image = test.Images[i].unsqueeze(0);
                Tessera.IO.ImageIO.SavePng(image, Path.Combine(dir.File("real"), Tessera.Diffusion.Sampling.SeedList.ImageName(i)));
            }
        }
        (code, output) = CliTests.Run("diffusion", "eval", "--samples", dir.File("real"), "--classifier", dir.File("cls.safetensors"), "-q");
        Assert.True(code == 0, output);
        var distance = System.Text.RegularExpressions.Regex.Match(output, @"200 images in .*: Fréchet distance (\S+) against 200 test images");
        Assert.True(distance.Success, output);
        Assert.True(Math.Abs(double.Parse(distance.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)) < 1e-3, output);
        (code, output) = CliTests.Run("diffusion", "eval", "--samples", dir.File("nowhere"), "--classifier", dir.File("cls.safetensors"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("--samples", output);

        // Three shards' statistics (batches of 4 dealt round-robin) merge to the single-process distances.
        string[] Eval(params string[] extra) => ["diffusion", "eval", "--checkpoint", Path.Combine(dir.File("run"), "checkpoint.safetensors"), "--classifier", dir.File("cls.safetensors"),
            "--samplers", "euler,heun", "--steps", "2", "-n", "12", "--batch", "4", "-q", .. extra];
        (code, var single) = CliTests.Run(Eval("--reference-stats", dir.File("ref.safetensors")));
        Assert.True(code == 0, single);
        Assert.True(File.Exists(dir.File("ref.safetensors")));
        for (int i = 0; i < 3; i++)
        {
            (code, output) = CliTests.Run(Eval("--shard", $"{i}/3", "--stats-dir", dir.File("stats")));
            Assert.True(code == 0, output);
        }
        var parts = Directory.GetFiles(dir.File("stats"), "*.safetensors");
        Assert.Equal(6, parts.Length);
        (code, var merged) = CliTests.Run(["diffusion", "eval", "--classifier", dir.File("cls.safetensors"), "--reference-stats", dir.File("ref.safetensors"), "--merge", .. parts]);
        Assert.True(code == 0, merged);
        static string[] Rows(string output) => output.Split('\n').Where(l => l.Contains(" steps 2 NFE ", StringComparison.Ordinal) && l.Contains(": Fréchet distance", StringComparison.Ordinal)).Select(l => l.Trim()).ToArray();
        Assert.Equal(2, Rows(single).Length);
        Assert.Equal(Rows(single), Rows(merged));
        (code, output) = CliTests.Run(["diffusion", "eval", "--classifier", dir.File("cls.safetensors"), "--merge", .. parts.Where(p => !p.Contains("shard-00001", StringComparison.Ordinal))]);
        Assert.Equal(2, code);
        Assert.Contains("shard 1/3 is missing", output);

        (code, output) = CliTests.Run("diffusion", "eval", "--checkpoint", Path.Combine(dir.File("run"), "checkpoint.safetensors"), "--classifier", dir.File("missing.safetensors"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("tessera classifier train", output);
    }
}
