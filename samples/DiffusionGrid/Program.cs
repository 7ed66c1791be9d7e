// Samples a grid from a trained diffusion checkpoint with DPM-Solver++(2M), on Karras' grid and on a grid fitted
// to the model's own trajectories. Without a checkpoint it first trains a tiny U-Net for a few steps.
using Tessera.Diffusion;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Training;
using Tessera.IO;
using Tessera.Runtime;
using TorchSharp;

var device = TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up
string output = args.Length > 1 ? args[1] : "diffusion-grid";
string checkpoint = args.Length > 0 && args[0] != "-" ? args[0] : Path.Combine(output, "run", "checkpoint.safetensors");

if (!File.Exists(checkpoint))
{
    // A tiny class-conditional U-Net on the Fashion-MNIST subset embedded in the package: 30 steps, for the run only.
    var options = new DiffusionTrainOptions
    {
        Model = new DiffusionModelConfig(NetworkKind.UNet, new UNetConfig(BaseChannels: 16, Multipliers: [1, 2], ResBlocks: 1, AttentionResolutions: [], EmbedChannels: 64, Classes: 10)),
        Training = DiffusionTrainOptions.DefaultTraining with { Steps = 30, Batch = 16, CheckpointEvery = 30, SampleEvery = 0, PreviewAtEnd = false, Seed = 1 },
    };
    double loss = new DiffusionTrainer(options, device).Train(Path.GetDirectoryName(checkpoint)!, resume: false);
    Console.WriteLine($"trained 30 steps, loss {loss:F3}");
}

using var model = DiffusionModel.Load(checkpoint, device); // the caller disposes the model
var seeds = DiffusionSampling.ConsecutiveSeeds(0, 10); // sample i from seed i: the same seeds give the same images

// 1. DPM-Solver++(2M) on Karras' ρ = 7 grid, 10 steps.
using (var images = DiffusionSampling.Sample(model, seeds, new DiffusionSamplingOptions { Sampler = "dpmpp_2m", Steps = 10, Guidance = 1.5 }, device))
    ImageIO.SaveGrid(images, Path.Combine(output, "karras.png"), columns: 10);

// 2. The same sampler down a 10-step grid fitted (tiny settings for the run; defaults: 64 samples, 64 fine steps, 12 sweeps) to the model's own fine trajectories (tessera diffusion schedule).
var fit = ModelSchedule.Fit(model, "dpmpp_2m", 10, new ModelScheduleOptions(Samples: 4, Seed: 1, FineSteps: 12, Guidance: 1.5, Sweeps: 1), device);
using (var images = DiffusionSampling.Sample(model, seeds, new DiffusionSamplingOptions { Sampler = "dpmpp_2m", Sigmas = fit.Sigmas, Guidance = 1.5 }, device))
    ImageIO.SaveGrid(images, Path.Combine(output, "fitted.png"), columns: 10);
Console.WriteLine($"fitted grid [{string.Join(", ", fit.Sigmas.Select(s => s.ToString("G3")))}]: rmse {fit.Error:G3} vs Karras {fit.KarrasError:G3}; wrote karras.png and fitted.png in {output}");
