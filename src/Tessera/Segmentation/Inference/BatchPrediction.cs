using Tessera.IO;
using Tessera.Runtime.Sharding;
using Tessera.Segmentation.Data;
using TorchSharp;

namespace Tessera.Segmentation.Inference;

/// <summary>
/// Label PNGs (in the dataset's convention) and colour overlays at the original resolution, for a folder of images
/// or a dataset split, as one shard of a batch job: items sorted by name and dealt round-robin, each written
/// atomically (overlay, then the label last), finished items skipped, the shard's summary written last.
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
    /// Predicts the items of <paramref name="shard"/> with <paramref name="model"/>, writing <c>labels/</c>,
    /// <c>overlays/</c> and the shard's summary under <paramref name="outputFolder"/>.
    /// </summary>
    public ShardSummary Run(SegmentationModel model, string outputFolder, InferenceOptions options, Shard shard, torch.Device device,
        Action<int>? progress = null, CancellationToken cancellation = default)
    {
        var dataset = _dataset;
        var palette = dataset?.Palette ?? (model.Config.ImageNetInput ? SegmentationDataset.DefaultPalette(model.Config.Classes) : FashionMnistScenes.Palette);
        string output = Path.GetFullPath(outputFolder);
        string labels = Path.Combine(output, "labels"), overlays = Path.Combine(output, "overlays");
        Directory.CreateDirectory(labels);
        Directory.CreateDirectory(overlays);
        return ShardedWork.Run(_items, shard, i => i.Name, i => File.Exists(Path.Combine(labels, i.Name)), item =>
        {
            using var scope = torch.NewDisposeScope();
            var sample = item.Index >= 0 ? dataset!.Load(item.Index) : LoadImage(item.Image);
            byte[] pred = DatasetEvaluation.Predict(model.Network, sample, options, model.Config.ImageNetInput, device);
            var overlay = PredictionWriter.Overlay(pred, sample.Width, sample.Height, palette, sample.Image);
            WriteAtomically(Path.Combine(overlays, item.Name), tmp =>
                ImageIO.SavePng(torch.tensor(overlay, [3, sample.Height, sample.Width], torch.ScalarType.Byte), tmp));
            // The label map last: its presence marks the item finished.
            WriteAtomically(Path.Combine(labels, item.Name), tmp =>
            {
                if (dataset is not null) PredictionWriter.WriteLabels(dataset, tmp, pred, sample.Width, sample.Height);
                else PalettePng.Write(tmp, pred, sample.Width, sample.Height);
            });
        }, Path.Combine(output, ShardSummary.FileName(shard)), (n, _) => progress?.Invoke(n), cancellation);
    }

    private static SegmentationSample LoadImage(string path)
    {
        try
        {
            var (w, h, rgb) = SegmentationDataset.DecodeRgb(path);
            return new SegmentationSample(w, h, rgb, new byte[w * h]);
        }
        catch (TesseraFormatException) { throw; }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            throw new TesseraFormatException(path, $"not a decodable image ({e.Message})", e);
        }
    }

    private static void WriteAtomically(string path, Action<string> write)
    {
        string tmp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileNameWithoutExtension(path) + ".partial.png");
        write(tmp);
        File.Move(tmp, path, overwrite: true);
    }
}
