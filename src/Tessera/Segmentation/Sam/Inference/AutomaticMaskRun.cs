using Tessera.Runtime.Sharding;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>The files an <see cref="AutomaticMaskRun"/> writes per image: one of the official amg.py's two layouts.</summary>
public enum AmgOutput
{
    /// <summary>Per image <c>NAME</c> a folder <c>NAME/</c> of mask PNGs and <c>metadata.csv</c> (<see cref="AmgPngFolder"/>; amg.py's default).</summary>
    PngFolder,

    /// <summary>Per image <c>NAME.json</c>: SA-1B's annotation records with COCO RLE segmentations (<see cref="AmgJson"/>; amg.py's <c>--convert-to-rle</c>).</summary>
    CocoRleJson,
}

/// <summary>Where an <see cref="AutomaticMaskRun"/> is: images handled of those assigned to the shard, the last one and how it went.</summary>
public sealed record AmgRunProgress(int Handled, int Assigned, string Image, ItemOutcome Outcome);

/// <summary>What one run (one shard) did: its summary, as saved beside the outputs, and the masks it wrote.</summary>
public sealed record AmgRunResult(ShardSummary Summary, long Masks);

/// <summary>
/// The official <c>scripts/amg.py</c> over images — the one loop of automatic masks over files, sharded or not: images
/// sorted by name and dealt round-robin to the shards, an image whose output exists skipped (so an interrupted run is
/// finished by running it again), an unreadable image or two images with one output name (a.png and a.jpg) reported
/// and passed over, then the shard's manifest of what it produced (<see cref="ShardManifest"/>, which
/// <see cref="ShardManifest.Check"/> reads) and its summary, written last (its presence means the shard finished).
/// </summary>
/// <param name="generator">The mask generator (its options hold points per side and per batch).</param>
/// <param name="output">The layout of each image's output.</param>
public sealed class AutomaticMaskRun(AutomaticMaskGenerator generator, AmgOutput output = AmgOutput.PngFolder)
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];

    /// <summary>The images a run over <paramref name="input"/> reads: the file itself, or a folder's image files (not recursive, sorted by ordinal name).</summary>
    /// <exception cref="TesseraUserException">The input does not exist.</exception>
    public static List<string> Targets(string input)
    {
        if (File.Exists(input)) return [Path.GetFullPath(input)];
        if (!Directory.Exists(input)) throw new TesseraUserException(nameof(input), $"{input}: no such file or folder");
        return [.. Directory.EnumerateFiles(input).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Select(Path.GetFullPath).Order(StringComparer.Ordinal)];
    }

    /// <summary>The output of one image in <paramref name="outputFolder"/>: its folder of masks, or its JSON file.</summary>
    public string OutputOf(string image, string outputFolder) =>
        Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(image) + (output == AmgOutput.CocoRleJson ? ".json" : ""));

    /// <summary>Whether the output of <paramref name="image"/> is complete (its JSON, or its folder's metadata.csv, exists).</summary>
    public bool IsDone(string image, string outputFolder) => output == AmgOutput.CocoRleJson
        ? File.Exists(OutputOf(image, outputFolder))
        : File.Exists(Path.Combine(OutputOf(image, outputFolder), AmgPngFolder.MetadataFile));

    /// <summary>Runs over the images of <paramref name="input"/> (a folder or one file; see <see cref="Targets"/>).</summary>
    public AmgRunResult Run(string input, string outputFolder, Shard? shard = null, IProgress<AmgRunProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(Targets(input), outputFolder, shard, progress, cancellation);

    /// <summary>
    /// Runs the images of <paramref name="shard"/> (default: all) out of <paramref name="targets"/> (every image of the job,
    /// from <see cref="Targets"/>) into <paramref name="outputFolder"/>; writes the shard's manifest and summary there.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired (between images or point batches; no summary is written).</exception>
    public AmgRunResult Run(IReadOnlyList<string> targets, string outputFolder, Shard? shard = null, IProgress<AmgRunProgress>? progress = null, CancellationToken cancellation = default)
    {
        shard ??= Shard.All;
        string folder = Path.GetFullPath(outputFolder);
        Directory.CreateDirectory(folder);
        var clashes = targets.GroupBy(t => OutputOf(t, folder)).Where(g => g.Count() > 1)
            .SelectMany(g => g.Select(t => (t, g.Where(o => o != t).Select(Path.GetFileName).First()))).ToDictionary(x => x.t, x => x.Item2);
        bool Done(string image) => !clashes.ContainsKey(image) && IsDone(image, folder);
        var mine = shard.Select(targets).ToList();
        long masks = 0;
        var summary = ShardedWork.Run(targets, shard, t => Path.GetFileName(t), Done, image =>
        {
            if (clashes.TryGetValue(image, out var other)) throw new TesseraUserException($"{image}: its output name is also that of {other}; rename one of them");
            using var scope = torch.NewDisposeScope();
            using var rgb = ImageIO.Load(image, ColorMode.Rgb);
            var found = generator.Generate(rgb, cancellation: cancellation);
            if (output == AmgOutput.CocoRleJson) AmgJson.Write(OutputOf(image, folder), found);
            else AmgPngFolder.Write(OutputOf(image, folder), found);
            masks += found.Count;
        }, summaryPath: null, progress: (n, outcome) => progress?.Report(new AmgRunProgress(n, mine.Count, mine[n - 1], outcome)), cancellation: cancellation);
        var items = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var image in mine.Where(Done))
        {
            string o = OutputOf(image, folder);
            items[Path.GetFileName(image)] = output == AmgOutput.CocoRleJson ? [Path.GetRelativePath(folder, o)]
                : [.. Directory.GetFiles(o).Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal)];
        }
        new ShardManifest { Shard = shard.ToString(), TotalItems = targets.Count, Items = items, Failed = summary.Failed }
            .Save(Path.Combine(folder, ShardManifest.FileName(shard)));
        summary.Save(Path.Combine(folder, ShardSummary.FileName(shard))); // last: its presence means the shard finished
        return new AmgRunResult(summary, masks);
    }
}
