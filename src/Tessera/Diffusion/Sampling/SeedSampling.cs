using Tessera.Diffusion.Models;
using Tessera.Runtime.Sharding;

namespace Tessera.Diffusion.Sampling;

/// <summary>
/// Sampling addressed by seed, as EDM's <c>generate.py</c>: the image of seed s depends only on s (its own noise
/// generator, its class label a function of s), so it is the same in any batch, shard or rerun up to the kernels' float
/// rounding (bit for bit at the same batch size and thread count; docs/scale-out.md); each is written
/// atomically as <c>DIR/000123.png</c>, images already present are skipped, and the shard's summary is written last.
/// </summary>
public static class SeedSampling
{
    /// <summary>
    /// Writes the images of this shard's seeds (seeds sorted by value, dealt round-robin) into <paramref name="outDir"/>,
    /// skipping those already there, in batches of <see cref="DiffusionSamplingOptions.Batch"/>; writes the shard summary last.
    /// </summary>
    /// <param name="model">The model (its EMA weights, as loaded).</param>
    /// <param name="o">Sampler, grid, batch, classes and guidance.</param>
    /// <param name="seeds">Every seed of the whole job, sorted by value.</param>
    /// <param name="shard">This process's shard.</param>
    /// <param name="outDir">Where the images and the summary go.</param>
    /// <param name="device">Where the model runs.</param>
    /// <param name="progress">Hears the number of this shard's seeds handled so far (those already there first).</param>
    /// <param name="cancellation">Stops between batches (finished images stay).</param>
    public static ShardSummary WriteImages(DiffusionModel model, DiffusionSamplingOptions o, IReadOnlyList<long> seeds, Shard shard, string outDir,
        torch.Device device, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Check(model);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        string PathOf(long s) => Path.Combine(outDir, SeedList.ImageName(s));
        var mine = shard.Select(seeds).ToList();
        var pending = mine.Where(s => !File.Exists(PathOf(s))).ToList();
        int skipped = mine.Count - pending.Count, done = 0;
        progress?.Report(skipped);
        model.eval();
        for (int first = 0; first < pending.Count; first += o.Batch)
        {
            cancellation.ThrowIfCancellationRequested();
            var batch = pending.GetRange(first, Math.Min(o.Batch, pending.Count - first));
            using var scope = torch.NewDisposeScope();
            var images = DiffusionSampling.Sample(model, batch, o, device, cancellation: cancellation);
            for (int i = 0; i < batch.Count; i++) ImageIO.SavePng(images[i], PathOf(batch[i]));
            done += batch.Count;
            progress?.Report(skipped + done);
        }
        var summary = new ShardSummary { Shard = shard.ToString(), Assigned = mine.Count, Done = done, Skipped = skipped, Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3) };
        summary.Save(Path.Combine(outDir, ShardSummary.FileName(shard)));
        return summary;
    }
}
