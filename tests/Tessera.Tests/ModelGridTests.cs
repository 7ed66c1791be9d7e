using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;

namespace Tessera.Tests;

/// <summary>A tiny conditional U-Net trained for two steps, shared by the grid tests.</summary>
public sealed class TinyDiffusionModel : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>Its checkpoint.</summary>
    public string Checkpoint { get; }

    /// <summary>Trains it.</summary>
    public TinyDiffusionModel()
    {
        var (code, output) = CliTests.Run("diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--steps", "2",
            "--batch", "4", "--limit", "16", "--checkpoint-every", "2", "--sample-every", "0", "--warmup", "2", "--out", _dir.File("run"), "--seed", "7", "-q", "--conditional");
        Assert.True(code == 0, output);
        Checkpoint = Path.Combine(_dir.File("run"), "checkpoint.safetensors");
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Dispose();
}

/// <summary>σ-grid files on the sampling verbs, and grids fitted to a trained model.</summary>
public class ModelGridTests(TinyDiffusionModel tiny) : IClassFixture<TinyDiffusionModel>
{
    [Fact]
    public void Grid_file_equal_to_the_karras_grid_samples_bit_identically_and_a_bad_grid_exits_2_naming_the_file()
    {
        using var dir = new TempDir();
        (double min, double max) range;
        using (var model = DiffusionModel.Load(tiny.Checkpoint)) range = model.Config.SigmaRange;
        SigmaGridFile.Write(dir.File("karras.json"), SigmaGrids.Karras(3, range.min, range.max));
        string[] sample = ["diffusion", "sample", "--checkpoint", tiny.Checkpoint, "--sampler", "dpmpp_2m", "-n", "3", "--seed", "5", "-q"];
        Assert.Equal(0, CliTests.Run([.. sample, "--steps", "3", "--out", dir.File("a.png"), "--out-dir", dir.File("a")]).Code);
        Assert.Equal(0, CliTests.Run([.. sample, "--grid", dir.File("karras.json"), "--out", dir.File("b.png"), "--out-dir", dir.File("b")]).Code);
        for (int s = 5; s < 8; s++)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("a"), $"{s:D6}.png")), File.ReadAllBytes(Path.Combine(dir.File("b"), $"{s:D6}.png")));

        // Above the model's σ_max, increasing, too short: exit 2, one line naming the file and its field.
        File.WriteAllText(dir.File("high.json"), "{\"sigmas\": [500, 1, 0]}");
        File.WriteAllText(dir.File("up.json"), "{\"sigmas\": [10, 20, 0]}");
        File.WriteAllText(dir.File("short.json"), "{\"sigmas\": [10]}");
        File.WriteAllText(dir.File("low.json"), "{\"sigmas\": [10, 1e-5, 0]}");
        foreach (string bad in new[] { "high.json", "up.json", "short.json", "low.json" })
        {
            var (code, output) = CliTests.Run([.. sample, "--grid", dir.File(bad), "--out", dir.File("c.png")]);
            Assert.Equal(2, code);
            Assert.Contains(bad, output);
            Assert.Contains("sigmas", output);
            Assert.DoesNotContain("   at ", output);
        }
        Assert.Contains("σ_max", CliTests.Run([.. sample, "--grid", dir.File("high.json"), "--out", dir.File("c.png")]).Output);
        Assert.Contains("σ_min", CliTests.Run([.. sample, "--grid", dir.File("low.json"), "--out", dir.File("c.png")]).Output);
    }

    [Fact]
    public void Schedule_from_a_checkpoint_is_deterministic_valid_and_no_worse_than_karras_on_its_fitting_noise()
    {
        using var dir = new TempDir();
        string[] schedule = ["diffusion", "schedule", "--checkpoint", tiny.Checkpoint, "--nfe", "4", "--sampler", "dpmpp_2m", "--samples", "4",
            "--fine-steps", "12", "--sweeps", "3", "--seed", "9", "-q"];
        var first = CliTests.Run([.. schedule, "--out", dir.File("g1.json")]);
        Assert.True(first.Code == 0, first.Output);
        Assert.Equal(0, CliTests.Run([.. schedule, "--out", dir.File("g2.json")]).Code);
        Assert.Equal(File.ReadAllText(dir.File("g1.json")), File.ReadAllText(dir.File("g2.json")));

        using var model = DiffusionModel.Load(tiny.Checkpoint);
        var range = model.Config.SigmaRange;
        double[] grid = ModelGrid.Read(dir.File("g1.json"), range);
        Assert.Equal(5, grid.Length);
        Assert.Equal(0, grid[^1]);
        Assert.Equal(range.Max, grid[0]);

        // Recomputed here: both grids run from the same fitting noise against the model's own fine solution.
        var o = new ModelScheduleOptions(Samples: 4, Seed: 9, FineSteps: 12);
        var (start, target) = ModelSchedule.FineSolutions(model, o, torch.CPU); // the ends of the teacher Fit used
        using var _ = torch.no_grad();
        double Rmse(double[] sigmas) =>
            (SamplerRegistry.Sample("dpmpp_2m", ModelSchedule.Denoiser(model, o, torch.CPU), start, sigmas, new Tessera.Diffusion.GeneratorNoise(0)) - target).square().mean().sqrt().item<double>();
        double fitted = Rmse(grid), karras = Rmse(SigmaGrids.Karras(4, range.Min, range.Max));
        Assert.True(fitted <= karras, $"fitted grid {fitted:e3} vs Karras {karras:e3}");
        Assert.True(fitted > 0);
    }

    /// <summary>The dynamic programme picks steps among the teacher's fine σ's, so a budget above them is refused in one line.</summary>
    [Fact]
    public void Schedule_with_more_steps_than_the_fine_trajectory_exits_2_naming_nfe()
    {
        using var dir = new TempDir();
        var r = CliTests.Run(["diffusion", "schedule", "--checkpoint", tiny.Checkpoint, "--nfe", "8", "--fine-steps", "4", "--samples", "2", "-q", "--out", dir.File("g.json")]);
        Assert.Equal(2, r.Code);
        Assert.Contains("nfe", r.Output);
        Assert.Contains("at most 5", r.Output);
        Assert.DoesNotContain("   at ", r.Output);
    }
}
