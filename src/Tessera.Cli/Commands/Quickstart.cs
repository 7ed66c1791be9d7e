using Tessera.Data;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Training;
using Tessera.IO;
using Tessera.Plotting;
using Tessera.Segmentation.Models;
using Tessera.Segmentation.Training;
using TorchSharp;

namespace Tessera.Cli.Commands;

/// <summary>
/// The first run on a fresh checkout (<c>tessera quickstart</c>): a grid of Fashion-MNIST by class, a small GCN-Net on
/// Fashion-MNIST scenes and a small class-conditional diffusion U-Net, each sized to train in minutes on two cores.
/// </summary>
internal static class Quickstart
{
    /// <summary>Writes a PNG grid with one row per class: the first <paramref name="perClass"/> images of each class of <paramref name="data"/>.</summary>
    public static void ClassGrid(FashionMnist data, string path, int perClass, torch.Device device, Action<int>? progress = null, CancellationToken cancellation = default)
    {
        using var scope = torch.NewDisposeScope();
        var images = data.ImagesAsFloat(device);
        var picked = new List<torch.Tensor>();
        for (int c = 0; c < 10; c++)
        {
            cancellation.ThrowIfCancellationRequested();
            var rows = torch.nonzero(data.Labels.eq(c)).flatten();
            long take = Math.Min(perClass, rows.shape[0]);
            picked.Add(images.index_select(0, rows[..(int)take].to(device)));
            progress?.Invoke(c + 1);
        }
        ImageIO.SaveGrid(torch.cat(picked), path, columns: perClass, padding: 2, padValue: 1.0);
    }

    /// <summary>A small GCN-Net (k 7, width 16) on scenes for <paramref name="steps"/> steps, evaluated and checkpointed at the end.</summary>
    public static SegTrainOptions Segmentation(int steps, long seed, string? dataFolder) => new()
    {
        Model = new SegModelConfig { Model = SegModelKind.Gcn, K = 7, BaseWidth = 16 },
        Training = SegTrainOptions.DefaultTraining with { Steps = steps, Batch = 16, EvalEvery = steps, CheckpointEvery = steps, Seed = seed, CurvePlotter = new LossCurvePlotter() },
        EvalScenes = Math.Min(256, Math.Max(16, steps)),
        Data = dataFolder,
    };

    /// <summary>A small class-conditional EDM U-Net for <paramref name="steps"/> steps, without preview grids (the caller samples).</summary>
    public static DiffusionTrainOptions Diffusion(int steps, long seed, string? dataFolder) => new()
    {
        Model = new DiffusionModelConfig(NetworkKind.UNet, UNetConfig.SmallFashionMnist),
        Training = DiffusionTrainOptions.DefaultTraining with
        {
            Steps = steps,
            Batch = 32,
            LearningRate = 2e-3,
            WarmupSteps = 50,
            CheckpointEvery = steps,
            SampleEvery = 0,
            PreviewAtEnd = false, // the caller samples
            Seed = seed,
            CurvePlotter = new LossCurvePlotter(),
        },
        EmaHalfLifeKimg = 5,
        Data = dataFolder,
    };
}
