using System.Text.Json.Nodes;
using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Metrics;

/// <summary>A ground-truth file and the prediction of the same name.</summary>
/// <param name="Name">The file name both share.</param>
/// <param name="GroundTruth">Path of the ground-truth label PNG.</param>
/// <param name="Prediction">Path of the predicted label PNG.</param>
public sealed record LabelPair(string Name, string GroundTruth, string Prediction);

/// <summary>Pairs of files, and those left without a partner.</summary>
/// <param name="Pairs">Matched pairs, sorted by name.</param>
/// <param name="MissingPredictions">Ground-truth files with no prediction.</param>
/// <param name="MissingGroundTruth">Predictions with no ground truth.</param>
public sealed record Pairing(IReadOnlyList<LabelPair> Pairs, IReadOnlyList<string> MissingPredictions, IReadOnlyList<string> MissingGroundTruth);

/// <summary>Evaluates folders of label PNGs: pairing by file name, streaming accumulation, reports.</summary>
public static class FolderEvaluation
{
    /// <summary>
    /// Pairs <c>gt/a.png</c> with <c>pred/a.png</c>. With <paramref name="skipMissing"/> false, an unpaired file is an
    /// error. A <paramref name="predictionFolder"/> written by batch prediction (<see cref="PredictionWriter.LabelFolderOf"/>)
    /// is read in its label subfolder, so its overlays and shard summaries are not taken for predictions.
    /// </summary>
    /// <exception cref="TesseraUserException">A folder is missing or empty, holds a non-PNG, or (unless skipping) a file has no partner.</exception>
    public static Pairing Pair(string groundTruthFolder, string predictionFolder, bool skipMissing)
    {
        predictionFolder = PredictionWriter.LabelFolderOf(predictionFolder);
        Dictionary<string, string> gt = List(groundTruthFolder, nameof(groundTruthFolder)), pred = List(predictionFolder, nameof(predictionFolder));
        var missingPred = gt.Keys.Where(k => !pred.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var missingGt = pred.Keys.Where(k => !gt.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (!skipMissing && missingPred.Count > 0)
            throw new TesseraUserException($"{gt[missingPred[0]]}: no prediction of that name in {predictionFolder} ({missingPred.Count} missing; skip missing files to evaluate the rest)");
        if (!skipMissing && missingGt.Count > 0)
            throw new TesseraUserException($"{pred[missingGt[0]]}: no ground truth of that name in {groundTruthFolder} ({missingGt.Count} missing; skip missing files to evaluate the rest)");
        var pairs = gt.Keys.Where(pred.ContainsKey).Order(StringComparer.Ordinal).Select(k => new LabelPair(k, gt[k], pred[k])).ToList();
        if (pairs.Count == 0) throw new TesseraUserException($"{groundTruthFolder} and {predictionFolder}: no file name appears in both");
        return new Pairing(pairs, missingPred, missingGt);
    }

    private static Dictionary<string, string> List(string folder, string parameter)
    {
        if (!Directory.Exists(folder)) throw new TesseraUserException(parameter, $"folder '{folder}' does not exist");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string f in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(f);
            if (name.StartsWith('.')) continue;
            if (!name.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new TesseraFormatException(f, "not a PNG file (label maps must be .png)");
            files[name] = f;
        }
        if (files.Count == 0) throw new TesseraUserException(parameter, $"folder '{folder}' holds no PNG files");
        return files;
    }

    /// <summary>
    /// Streams every pair into one confusion matrix, decoding in parallel (thread-local matrices,
    /// merged at the end; the counts do not depend on the order).
    /// </summary>
    /// <param name="pairs">The pairs (<see cref="Pair"/>).</param>
    /// <param name="options">Classes, ignore index and reduce_zero_label.</param>
    /// <param name="progress">Gets the number of pairs counted so far (from the worker threads).</param>
    /// <param name="cancellation">Stops between pairs (<see cref="OperationCanceledException"/>).</param>
    /// <exception cref="TesseraUserException">A file is not a label PNG, sizes differ within a pair, or a label is out of range.</exception>
    public static ConfusionMatrix Evaluate(IReadOnlyList<LabelPair> pairs, ConfusionOptions options, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        var total = new ConfusionMatrix(options);
        var gate = new object();
        int done = 0;
        try
        {
            Parallel.ForEach(pairs, new ParallelOptions { CancellationToken = cancellation, MaxDegreeOfParallelism = Environment.ProcessorCount },
                () => new ConfusionMatrix(options),
                (pair, _, local) =>
                {
                    LabelMap gt = LabelPng.Read(pair.GroundTruth);
                    LabelMap pred = LabelPng.Read(pair.Prediction);
                    if (gt.Width != pred.Width || gt.Height != pred.Height)
                        throw new TesseraFormatException(pair.Prediction, $"prediction is {pred.Width}x{pred.Height} but its ground truth {pair.GroundTruth} is {gt.Width}x{gt.Height}");
                    local.Add(gt.Labels, pred.Labels, pair.Prediction);
                    progress?.Report(Interlocked.Increment(ref done));
                    return local;
                },
                local => { lock (gate) total.Merge(local); });
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is TesseraUserException) is { } user)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(user).Throw();
        }
        return total;
    }

    /// <summary>
    /// The JSON report: aAcc, mIoU, mAcc, mDice, mFscore, FWIoU, per_class, confusion_matrix, num_images (NaN as null),
    /// and, for exact merges of shard reports, <c>confusion</c> (the matrix with its options) and <c>shard</c> ("I/N") when sharded.
    /// </summary>
    public static string ToJson(SegmentationMetrics m, ConfusionMatrix cm, int numImages, string? shard = null)
    {
        static JsonNode? Num(double v) => double.IsNaN(v) ? null : JsonValue.Create(v);
        var root = new JsonObject
        {
            ["aAcc"] = Num(m.AAcc),
            ["mIoU"] = Num(m.MIoU),
            ["mAcc"] = Num(m.MAcc),
            ["mDice"] = Num(m.MDice),
            ["mFscore"] = Num(m.MFscore),
            ["FWIoU"] = Num(m.FWIoU),
            ["per_class"] = new JsonArray(m.PerClass.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["IoU"] = Num(c.IoU),
                ["Acc"] = Num(c.Acc),
                ["Dice"] = Num(c.Dice),
                ["Precision"] = Num(c.Precision),
                ["Recall"] = Num(c.Recall),
                ["Fscore"] = Num(c.Fscore),
            }).ToArray()),
            ["confusion_matrix"] = new JsonArray(Enumerable.Range(0, cm.NumClasses)
                .Select(r => (JsonNode)new JsonArray(Enumerable.Range(0, cm.NumClasses).Select(c => (JsonNode)JsonValue.Create(cm[r, c])).ToArray())).ToArray()),
            ["num_images"] = numImages,
            ["confusion"] = JsonNode.Parse(cm.ToJson()),
        };
        if (shard is not null) root["shard"] = shard;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Adds the confusion matrices of shard reports written by <see cref="ToJson"/> into the matrix a single run over all
    /// images gives (counts add exactly), with the number of images and the class names of the reports.
    /// When the reports name their shards ("I/N"), every shard 0 … N−1 must appear exactly once.
    /// </summary>
    /// <exception cref="TesseraFormatException">A report is not a Tessera report, or options or shards do not fit together.</exception>
    public static (ConfusionMatrix Matrix, int Images, string[]? ClassNames) MergeReports(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new TesseraUserException("no reports to merge");
        ConfusionMatrix? total = null;
        int images = 0;
        string[]? names = null;
        var shards = new Dictionary<string, string>(StringComparer.Ordinal);
        int? shardCount = null;
        foreach (string path in paths)
        {
            if (!File.Exists(path)) throw new TesseraUserException($"{path}: report does not exist");
            ConfusionMatrix part;
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(File.ReadAllText(path));
                var confusion = root?["confusion"] ?? throw new TesseraFormatException(path, "no 'confusion' object (a report of an older version; write the shard reports again with this one)");
                part = ConfusionMatrix.FromJson(confusion.ToJsonString());
                images += root!["num_images"]?.GetValue<int>() ?? 0;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
            {
                throw new TesseraFormatException(path, $"not a segmentation report ({e.Message.Split('\n')[0]})", e);
            }
            if (root?["shard"]?.GetValue<string>() is { } shard)
            {
                var s = Runtime.Sharding.Shard.Parse(shard, $"{path}: shard");
                if (shardCount is { } n && n != s.Count) throw new TesseraFormatException(path, $"shard {shard} is of {s.Count} shards, the others of {n}");
                shardCount = s.Count;
                if (shards.TryGetValue(shard, out var first)) throw new TesseraFormatException(path, $"shard {shard} again (also in {first})");
                shards[shard] = path;
            }
            names ??= root?["per_class"]?.AsArray().Select(c => c?["name"]?.GetValue<string>() ?? "").ToArray();
            if (total is null) total = part;
            else
            {
                if (part.NumClasses != total.NumClasses || part.Options.IgnoreIndex != total.Options.IgnoreIndex || part.Options.ReduceZeroLabel != total.Options.ReduceZeroLabel)
                    throw new TesseraFormatException(path, $"evaluated with other options ({part.NumClasses} classes, ignore {part.Options.IgnoreIndex}) than {paths[0]} ({total.NumClasses} classes, ignore {total.Options.IgnoreIndex})");
                total.Merge(part);
            }
        }
        if (shardCount is { } count)
            for (int i = 0; i < count; i++)
                if (!shards.ContainsKey($"{i}/{count}")) throw new TesseraUserException($"shard {i}/{count} is missing from the reports to merge");
        return (total!, images, names);
    }

    /// <summary>
    /// The row-normalised confusion matrix as a PNG heat map (white = 0, dark blue = 1; a row with
    /// no ground-truth pixels is light gray), rows = ground truth, columns = prediction.
    /// </summary>
    public static byte[] ConfusionPng(ConfusionMatrix cm)
    {
        int n = cm.NumClasses, cell = Math.Clamp(640 / n, 4, 48), size = n * cell;
        var rgb = new byte[3 * size * size];
        for (int r = 0; r < n; r++)
        {
            long rowSum = 0;
            for (int c = 0; c < n; c++) rowSum += cm[r, c];
            for (int c = 0; c < n; c++)
            {
                (byte R, byte G, byte B) color;
                if (rowSum == 0) color = (220, 220, 220);
                else
                {
                    double v = (double)cm[r, c] / rowSum;
                    color = ((byte)(255 - v * (255 - 8)), (byte)(255 - v * (255 - 48)), (byte)(255 - v * (255 - 107)));
                }
                for (int y = r * cell; y < (r + 1) * cell; y++)
                    for (int x = c * cell; x < (c + 1) * cell; x++)
                        (rgb[3 * (y * size + x)], rgb[3 * (y * size + x) + 1], rgb[3 * (y * size + x) + 2]) = color;
            }
        }
        return PngWriter.Encode(rgb, size, size, 2, [], adaptive: true, CompressionLevel.Optimal);
    }
}
