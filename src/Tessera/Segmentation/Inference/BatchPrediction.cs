using Tessera.Runtime.Sharding;
using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Inference;

/// <summary>
/// Label PNGs (in the dataset's convention) and colour overlays at the original resolution, for a folder of images
/// or a dataset split, as one shard of a batch job: items sorted by name and dealt round-robin, each written
/// atomically (overlay, then the label last), finished items skipped, the shard's summary written last. Each image is
/// predicted by <see cref="SegmentationModel.Predict(SegmentationSample, InferenceOptions?)"/> and written by <see cref="PredictionWriter"/>, as the server does.
/// </summary>
public sealed class BatchPrediction
{
    private sealed record Item(string Name, string Image, int Index);

    private readonly List<Item> _items;
    private readonly SegmentationDataset? _dataset;

    private BatchPrediction(List<Item> items, SegmentationDataset? dataset)
    {
        var duplicate = items.GroupBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new TesseraUserException($"two inputs would write {duplicate.Key}: {string.Join(" and ", duplicate.Select(i => i.Image))}");
        (_items, _dataset) = (items, dataset);
    }

    /// <summary>Every file of <paramref name="inputFolder"/>, written under <paramref name="outputFolder"/> (which must be another folder).</summary>
    public static BatchPrediction FromFolder(string inputFolder, string outputFolder)
    {
        string input = Path.GetFullPath(inputFolder);
        if (!Directory.Exists(input)) throw new TesseraUserException(nameof(inputFolder), $"folder '{inputFolder}' does not exist");
        if (Path.GetFullPath(outputFolder).TrimEnd('/') == input.TrimEnd('/'))
            throw new TesseraUserException(nameof(outputFolder), $"'{outputFolder}' is the input folder; predictions would mix with (and could overwrite) the inputs");
        var items = Directory.EnumerateFiles(input).Select(f => new Item(Path.GetFileNameWithoutExtension(f) + ".png", f, -1))
            .OrderBy(i => i.Name, StringComparer.Ordinal).ThenBy(i => i.Image, StringComparer.Ordinal).ToList();
        if (items.Count == 0) throw new TesseraUserException(nameof(inputFolder), $"folder '{inputFolder}' is empty");
        return new BatchPrediction(items, null);
    }

    /// <summary>Every item of <paramref name="dataset"/>, named after its label file.</summary>
    public static BatchPrediction FromDataset(SegmentationDataset dataset) =>
        new(SortedIndices(dataset).Select(i => new Item(Path.GetFileNameWithoutExtension(dataset[i].Label) + ".png", dataset[i].Image, i)).ToList(), dataset);

    /// <summary>The items in the canonical order of sharded work: by the name of their label file (ordinal), then path.</summary>
    public static List<int> SortedIndices(ISegmentationDataset dataset) =>
        Enumerable.Range(0, dataset.Count).OrderBy(i => Path.GetFileName(dataset[i].Label), StringComparer.Ordinal)
            .ThenBy(i => dataset[i].Label, StringComparer.Ordinal).ToList();

    /// <summary>How many items <paramref name="shard"/> holds.</summary>
    public int Count(Shard shard) => shard.Select(_items).Count();

    /// <summary>
    /// Predicts the items of <paramref name="shard"/> with <paramref name="model"/>, writing
    /// <see cref="PredictionWriter.LabelsFolder"/> (label PNGs in the dataset's convention, or for a folder of images in
    /// the checkpoint's, <see cref="SegmentationModel.Labels"/>), <see cref="PredictionWriter.OverlaysFolder"/> and the
    /// shard's summary under <paramref name="outputFolder"/>. <paramref name="progress"/> gets the number of items handled.
    /// </summary>
    public ShardSummary Run(SegmentationModel model, string outputFolder, InferenceOptions options, Shard shard,
        IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        var dataset = _dataset;
        var labelSet = dataset is null ? model.Labels : LabelSet.Of(dataset);
        string output = Path.GetFullPath(outputFolder);
        string labels = Path.Combine(output, PredictionWriter.LabelsFolder), overlays = Path.Combine(output, PredictionWriter.OverlaysFolder);
        Directory.CreateDirectory(labels);
        Directory.CreateDirectory(overlays);
        return ShardedWork.Run(_items, shard, i => i.Name, i => File.Exists(Path.Combine(labels, i.Name)), item =>
        {
            var sample = item.Index >= 0 ? dataset!.Load(item.Index) : LoadImage(item.Image);
            byte[] pred = model.Predict(sample, options);
            // Each file atomically, the label map last: its presence marks the item finished.
            AtomicFile.WriteAllBytes(Path.Combine(overlays, item.Name), PredictionWriter.EncodeOverlay(pred, sample, labelSet.Palette));
            PredictionWriter.WriteLabels(labelSet, Path.Combine(labels, item.Name), pred, sample.Width, sample.Height);
        }, Path.Combine(output, ShardSummary.FileName(shard)), (n, _) => progress?.Report(n), cancellation);
    }

    private static SegmentationSample LoadImage(string path)
    {
        try
        {
            var (w, h, rgb) = SegmentationDataset.DecodeRgb(path);
            return SegmentationSample.Unlabelled(w, h, rgb);
        }
        catch (TesseraFormatException) { throw; }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            throw new TesseraFormatException(path, $"not a decodable image ({e.Message})", e);
        }
    }
}
