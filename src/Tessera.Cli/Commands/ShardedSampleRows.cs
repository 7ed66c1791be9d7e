using Tessera.Diffusion.Evaluation;
using Tessera.Diffusion.Models;

namespace Tessera.Cli.Commands;

/// <summary>The driver of <c>tessera diffusion eval --shard</c>: one shard's part of every (sampler, steps) row.</summary>
internal static class ShardedSampleRows
{
    /// <summary>
    /// One shard's part of every (sampler, steps) row, written to <paramref name="folder"/> as <see cref="ShardedSampleQuality.FileName"/>
    /// (prefixed by <paramref name="gridName"/> when the rows run down a grid file, so they stay apart from the Karras rows of the same
    /// size); rows already there are skipped, so a killed shard resumes where it stopped.
    /// </summary>
    public static void WriteRows(DiffusionModel model, FashionClassifier classifier, IReadOnlyList<string> samplers, IReadOnlyList<int> steps, int count, long seed,
        double guidance, torch.Device device, Shard shard, int batch, string folder, double[]? sigmas = null, string? gridName = null,
        Action<string, int>? onRow = null, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(folder);
        foreach (var sampler in samplers)
            foreach (int n in steps)
            {
                string name = ShardedSampleQuality.FileName(sampler, n, shard);
                string path = Path.Combine(folder, gridName is null ? name : gridName + "-" + name);
                if (!File.Exists(path))
                {
                    var part = ShardedSampleQuality.Row(model, classifier, sampler, n, count, seed, guidance, device, shard, batch, cancellation, sigmas);
                    using (part.Features) ShardedSampleQuality.Save(part, path);
                }
                onRow?.Invoke(sampler, n);
            }
    }
}
