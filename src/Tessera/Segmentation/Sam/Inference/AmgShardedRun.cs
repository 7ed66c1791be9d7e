using Tessera.IO;
using Tessera.Runtime.Sharding;
using TorchSharp;

namespace Tessera.Segmentation.Sam;

/// <summary>What one shard of an <see cref="AmgShardedRun"/> did: the shard's summary and the masks it wrote.</summary>
public sealed record AmgShardResult(ShardSummary Summary, long Masks);

/// <summary>
/// The official <c>scripts/amg.py</c> over a folder as one shard of a batch job (<see cref="AmgBatch"/>'s outputs per
/// image): images sorted by name and dealt round-robin, finished images skipped, two inputs with one output name
/// (a.png and a.jpg) both failing, a manifest of the shard's outputs when asked for or sharded, and the shard's
/// summary written last (its presence means the shard finished).
/// </summary>
/// <param name="generator">The mask generator.</param>
/// <param name="convertToRle">One JSON per image instead of a folder of mask PNGs.</param>
public sealed class AmgShardedRun(AutomaticMaskGenerator generator, bool convertToRle = false)
{
    private readonly AmgBatch _batch = new(generator, convertToRle);

    /// <summary>Runs the images of <paramref name="shard"/> out of <paramref name="targets"/> (every image of the job, from <see cref="AmgBatch.Targets"/>) into <paramref name="outputFolder"/>.</summary>
    public AmgShardResult Run(IReadOnlyList<string> targets, string outputFolder, Shard shard, bool manifest = false, Action<int>? progress = null, CancellationToken cancellation = default)
    {
        string output = Path.GetFullPath(outputFolder);
        Directory.CreateDirectory(output);
        var clashes = targets.GroupBy(t => _batch.OutputOf(t, output)).Where(g => g.Count() > 1)
            .SelectMany(g => g.Select(t => (t, g.Where(o => o != t).Select(Path.GetFileName).First()))).ToDictionary(x => x.t, x => x.Item2);
        bool IsDone(string image) => !clashes.ContainsKey(image) && (convertToRle ? File.Exists(_batch.OutputOf(image, output)) : File.Exists(Path.Combine(_batch.OutputOf(image, output), "metadata.csv")));
        long masks = 0;
        var summary = ShardedWork.Run(targets, shard, t => Path.GetFileName(t), IsDone, image =>
        {
            if (clashes.TryGetValue(image, out var other)) throw new TesseraUserException($"{image}: its output name is also that of {other}; rename one of them");
            using var scope = torch.NewDisposeScope();
            using var rgb = ImageIO.Load(image, ColorMode.Rgb);
            var found = generator.Generate(rgb);
            if (convertToRle) AmgBatch.WriteJson(_batch.OutputOf(image, output), found);
            else AmgBatch.WriteFolder(_batch.OutputOf(image, output), found);
            masks += found.Count;
        }, summaryPath: null, progress: (n, _) => progress?.Invoke(n), cancellation: cancellation);
        if (manifest || shard.IsSharded)
        {
            var items = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var image in shard.Select(targets).Where(IsDone))
            {
                string o = _batch.OutputOf(image, output);
                items[Path.GetFileName(image)] = convertToRle ? [Path.GetRelativePath(output, o)]
                    : [.. Directory.GetFiles(o).Select(f => Path.GetRelativePath(output, f).Replace('\\', '/')).Order(StringComparer.Ordinal)];
            }
            new ShardManifest { Shard = shard.ToString(), TotalItems = targets.Count, Items = items, Failed = summary.Failed }
                .Save(Path.Combine(output, ShardManifest.FileName(shard)));
        }
        summary.Save(Path.Combine(output, ShardSummary.FileName(shard))); // last: its presence means the shard finished
        return new AmgShardResult(summary, masks);
    }
}
