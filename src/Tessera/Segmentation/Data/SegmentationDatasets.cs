namespace Tessera.Segmentation.Data;

/// <summary>Options that only some layouts read.</summary>
/// <param name="Custom">Folders, suffixes and classes of the custom layout.</param>
/// <param name="VocAugmented">VOC: read labels from SegmentationClassAug.</param>
/// <param name="ReduceZeroLabel">ADE20K: override reduce_zero_label (on by default); custom: see <see cref="CustomLayoutOptions"/>.</param>
public sealed record DatasetOptions(CustomLayoutOptions? Custom = null, bool VocAugmented = false, bool? ReduceZeroLabel = null);

/// <summary>Opens a dataset by layout name, or detects the layout from the folder.</summary>
public static class SegmentationDatasets
{
    /// <summary>The layout names (<see cref="DatasetLayout"/>).</summary>
    public static IReadOnlyList<string> Layouts => EnumNames.Names<DatasetLayout>();

    /// <summary>
    /// The layout of <paramref name="root"/> when exactly one matches: ADEChallengeData2016 (images/ and
    /// annotations/), Cityscapes (leftImg8bit/ and gtFine/), VOC2012 (JPEGImages/ and
    /// ImageSets/Segmentation/, also under VOCdevkit/), custom (img_dir/ and ann_dir/).
    /// </summary>
    /// <exception cref="TesseraUserException">No layout matches, or more than one does.</exception>
    public static DatasetLayout Detect(string root)
    {
        if (!Directory.Exists(root)) throw new TesseraUserException($"{root}: folder not found (the dataset root)");
        var found = new List<DatasetLayout>();
        if (Ade20kDataset.FindRoot(root) is not null) found.Add(DatasetLayout.Ade20k);
        if (CityscapesDataset.Looks(root)) found.Add(DatasetLayout.Cityscapes);
        if (VocDataset.FindRoot(root) is not null) found.Add(DatasetLayout.Voc);
        if (Directory.Exists(Path.Combine(root, "img_dir")) && Directory.Exists(Path.Combine(root, "ann_dir"))) found.Add(DatasetLayout.Custom);
        return found.Count switch
        {
            1 => found[0],
            0 => throw new TesseraUserException($"{root}: no known dataset layout (expected VOCdevkit/VOC2012, leftImg8bit+gtFine, ADEChallengeData2016, or img_dir+ann_dir); name the layout"),
            _ => throw new TesseraUserException($"{root}: ambiguous dataset layout ({string.Join(", ", found.Select(EnumNames.Name))}); name the layout"),
        };
    }

    /// <summary>Opens split <paramref name="split"/> of the dataset at <paramref name="root"/>; <paramref name="layout"/> null detects it.</summary>
    /// <exception cref="TesseraUserException">No layout detected, or the layout's reader refuses the folder.</exception>
    public static SegmentationDataset Open(DatasetLayout? layout, string root, string split, DatasetOptions? options = null)
    {
        options ??= new DatasetOptions();
        return (layout ?? Detect(root)) switch
        {
            DatasetLayout.Custom => CustomDataset.Open(root, split, options.ReduceZeroLabel is { } r ? (options.Custom ?? new()) with { ReduceZeroLabel = r } : options.Custom),
            DatasetLayout.Voc => VocDataset.Open(root, split, options.VocAugmented),
            DatasetLayout.Cityscapes => CityscapesDataset.Open(root, split),
            DatasetLayout.Ade20k => Ade20kDataset.Open(root, split, options.ReduceZeroLabel ?? true),
            var other => throw new ArgumentOutOfRangeException(nameof(layout), other, "not a dataset layout"),
        };
    }
}
