namespace Tessera.Segmentation.Data;

/// <summary>Options that only some layouts read.</summary>
/// <param name="Custom">Folders, suffixes and classes of the custom layout.</param>
/// <param name="VocAugmented">VOC: read labels from SegmentationClassAug.</param>
/// <param name="ReduceZeroLabel">ADE20K: override reduce_zero_label (on by default); custom: see <see cref="CustomLayoutOptions"/>.</param>
public sealed record DatasetOptions(CustomLayoutOptions? Custom = null, bool VocAugmented = false, bool? ReduceZeroLabel = null);

/// <summary>Opens a dataset by layout name, or detects the layout from the folder.</summary>
public static class SegmentationDatasets
{
    /// <summary>The layout names <see cref="Open"/> accepts.</summary>
    public static readonly IReadOnlyList<string> Layouts = ["custom", "voc", "cityscapes", "ade20k"];

    /// <summary>
    /// The layout of <paramref name="root"/> when exactly one matches: ADEChallengeData2016 (images/ and
    /// annotations/), Cityscapes (leftImg8bit/ and gtFine/), VOC2012 (JPEGImages/ and
    /// ImageSets/Segmentation/, also under VOCdevkit/), custom (img_dir/ and ann_dir/).
    /// </summary>
    /// <exception cref="TesseraUserException">No layout matches, or more than one does.</exception>
    public static string Detect(string root)
    {
        if (!Directory.Exists(root)) throw new TesseraUserException($"{root}: folder not found (the dataset root)");
        var found = new List<string>();
        if (Ade20kDataset.FindRoot(root) is not null) found.Add("ade20k");
        if (CityscapesDataset.Looks(root)) found.Add("cityscapes");
        if (VocDataset.FindRoot(root) is not null) found.Add("voc");
        if (Directory.Exists(Path.Combine(root, "img_dir")) && Directory.Exists(Path.Combine(root, "ann_dir"))) found.Add("custom");
        return found.Count switch
        {
            1 => found[0],
            0 => throw new TesseraUserException($"{root}: no known dataset layout (expected VOCdevkit/VOC2012, leftImg8bit+gtFine, ADEChallengeData2016, or img_dir+ann_dir); name the layout"),
            _ => throw new TesseraUserException($"{root}: ambiguous dataset layout ({string.Join(", ", found)}); name the layout"),
        };
    }

    /// <summary>Opens split <paramref name="split"/> of the dataset at <paramref name="root"/>; <paramref name="layout"/> null or "auto" detects it.</summary>
    /// <exception cref="TesseraUserException">Unknown layout, or the layout's reader refuses the folder.</exception>
    public static SegmentationDataset Open(string? layout, string root, string split, DatasetOptions? options = null)
    {
        options ??= new DatasetOptions();
        if (string.IsNullOrEmpty(layout) || layout == "auto") layout = Detect(root);
        return layout.ToLowerInvariant() switch
        {
            "custom" => CustomDataset.Open(root, split, options.ReduceZeroLabel is { } r ? (options.Custom ?? new()) with { ReduceZeroLabel = r } : options.Custom),
            "voc" => VocDataset.Open(root, split, options.VocAugmented),
            "cityscapes" => CityscapesDataset.Open(root, split),
            "ade20k" => Ade20kDataset.Open(root, split, options.ReduceZeroLabel ?? true),
            _ => throw new TesseraUserException($"unknown dataset layout '{layout}'; expected one of {string.Join(", ", Layouts)}"),
        };
    }
}
