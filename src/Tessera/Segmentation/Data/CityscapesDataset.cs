namespace Tessera.Segmentation.Data;

/// <summary>
/// Cityscapes (fine annotations): <c>leftImg8bit/{split}/{city}/NAME_leftImg8bit.png</c> paired with
/// <c>gtFine/{split}/{city}/NAME_gtFine_labelTrainIds.png</c> (19 classes, 255 ignored). The trainId maps
/// are made from the distributed <c>*_gtFine_labelIds.png</c> by <see cref="CityscapesLabels.ConvertFolder"/>.
/// </summary>
public sealed class CityscapesDataset : SegmentationDataset
{
    /// <summary>How image file names end.</summary>
    public const string ImageSuffix = "_leftImg8bit.png";

    /// <summary>How label file names end.</summary>
    public const string LabelSuffix = "_gtFine_labelTrainIds.png";

    private CityscapesDataset(string split, IReadOnlyList<SegmentationItem> items)
        : base(DatasetLayout.Cityscapes, split, items, CityscapesLabels.TrainClassNames, CityscapesLabels.TrainPalette, false) { }

    /// <summary>Whether <paramref name="root"/> holds leftImg8bit and gtFine.</summary>
    public static bool Looks(string root) => Directory.Exists(Path.Combine(root, "leftImg8bit")) && Directory.Exists(Path.Combine(root, "gtFine"));

    /// <summary>Lists split <paramref name="split"/> (train, val, test).</summary>
    /// <exception cref="TesseraUserException">A folder is missing or the split is empty.</exception>
    /// <exception cref="TesseraFormatException">An image has no trainId map (the error says how to make them), or a map has no image.</exception>
    public static CityscapesDataset Open(string root, string split)
    {
        string imgDir = Path.Combine(root, "leftImg8bit", split), gtDir = Path.Combine(root, "gtFine", split);
        RequireFolder(imgDir, $"images of split '{split}'");
        RequireFolder(gtDir, $"fine labels of split '{split}'");
        var items = new List<SegmentationItem>();
        var stems = new HashSet<string>(StringComparer.Ordinal);
        foreach (string image in ListFiles(imgDir, ImageSuffix))
        {
            string stem = Path.GetRelativePath(imgDir, image)[..^ImageSuffix.Length];
            string label = Path.Combine(gtDir, stem + LabelSuffix);
            if (!File.Exists(label))
            {
                string ids = Path.Combine(gtDir, stem + "_gtFine_labelIds.png");
                throw new TesseraFormatException(image, File.Exists(ids)
                    ? $"no trainId map {label}; convert the labelIds maps to trainIds first"
                    : $"no label {label} for this image");
            }
            stems.Add(stem);
            items.Add(new SegmentationItem(image, label));
        }
        foreach (string label in ListFiles(gtDir, LabelSuffix))
        {
            string stem = Path.GetRelativePath(gtDir, label)[..^LabelSuffix.Length];
            if (!stems.Contains(stem)) throw new TesseraFormatException(label, $"no image {Path.Combine(imgDir, stem + ImageSuffix)} for this label");
        }
        if (items.Count == 0) throw new TesseraUserException($"{imgDir}: no images ending in '{ImageSuffix}'");
        return new CityscapesDataset(split, items);
    }
}
