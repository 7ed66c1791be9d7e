namespace Tessera.Segmentation.Data;

/// <summary>
/// Pascal VOC 2012 segmentation: <c>VOCdevkit/VOC2012/JPEGImages/ID.jpg</c> with
/// <c>SegmentationClass/ID.png</c> (palette PNGs whose palette indices are the labels, 255 on object
/// borders), the ids of a split listed in <c>ImageSets/Segmentation/{train,val,trainval}.txt</c>. The
/// augmented set (SBD, as mmsegmentation's voc_aug converter writes it) reads labels from
/// <c>SegmentationClassAug/ID.png</c>; splits may be joined with '+' (e.g. <c>train+aug</c>).
/// </summary>
public sealed class VocDataset : SegmentationDataset
{
    /// <summary>The 21 class names, label order.</summary>
    public static readonly IReadOnlyList<string> VocClassNames =
    [
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    /// <summary>VOC's colours for the 21 classes (its bit-interleaved colour map: 1 = (128, 0, 0), 2 = (0, 128, 0), …).</summary>
    public static readonly IReadOnlyList<byte[]> VocPalette = DefaultPalette(21);

    /// <summary>The full 256-entry palette VOC's PNGs carry (index 255, the border, is (224, 224, 192)).</summary>
    public static IReadOnlyList<byte[]> FilePalette => DefaultPalette(256);

    private VocDataset(string split, IReadOnlyList<SegmentationItem> items) : base(DatasetLayout.Voc, split, items, VocClassNames, VocPalette, false) { }

    /// <summary>The VOC2012 folder under <paramref name="root"/>: root itself, root/VOC2012 or root/VOCdevkit/VOC2012; null if none holds JPEGImages.</summary>
    public static string? FindRoot(string root)
    {
        foreach (string candidate in new[] { root, Path.Combine(root, "VOC2012"), Path.Combine(root, "VOCdevkit", "VOC2012") })
            if (Directory.Exists(Path.Combine(candidate, "JPEGImages")) && Directory.Exists(Path.Combine(candidate, "ImageSets", "Segmentation"))) return candidate;
        return null;
    }

    /// <summary>Lists split <paramref name="split"/> (train, val, trainval, aug, or several joined with '+').</summary>
    /// <exception cref="TesseraUserException">No VOC2012 folder, or no list for the split.</exception>
    /// <exception cref="TesseraFormatException">A listed id has no image or no label.</exception>
    public static VocDataset Open(string root, string split, bool augmented = false)
    {
        string voc = FindRoot(root) ?? throw new TesseraUserException($"{root}: no VOC2012 folder (expected VOCdevkit/VOC2012 with JPEGImages and ImageSets/Segmentation)");
        string labelDir = Path.Combine(voc, augmented ? "SegmentationClassAug" : "SegmentationClass");
        RequireFolder(labelDir, augmented ? "the augmented labels" : "the labels");
        var items = new List<SegmentationItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string part in split.Split('+', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string list = Path.Combine(voc, "ImageSets", "Segmentation", part + ".txt");
            if (!File.Exists(list)) throw new TesseraUserException($"{list}: file not found (the ids of split '{part}')");
            foreach (string raw in File.ReadAllLines(list))
            {
                string id = raw.Trim();
                if (id.Length == 0 || !seen.Add(id)) continue;
                string image = Path.Combine(voc, "JPEGImages", id + ".jpg"), label = Path.Combine(labelDir, id + ".png");
                if (!File.Exists(image)) throw new TesseraFormatException(image, $"listed in {list} but not found");
                if (!File.Exists(label)) throw new TesseraFormatException(label, $"no label for image {image} (listed in {list})");
                items.Add(new SegmentationItem(image, label));
            }
        }
        if (items.Count == 0) throw new TesseraUserException($"{voc}: split '{split}' lists no ids");
        return new VocDataset(split, items);
    }
}
