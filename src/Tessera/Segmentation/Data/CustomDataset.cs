namespace Tessera.Segmentation.Data;

/// <summary>Settings of <see cref="CustomDataset"/> (mmsegmentation's BaseSegDataset defaults, except the suffixes).</summary>
/// <param name="ImageDir">Folder of images under the root; the split is a subfolder.</param>
/// <param name="AnnotationDir">Folder of label PNGs under the root; the split is a subfolder.</param>
/// <param name="ImageSuffix">How image file names end.</param>
/// <param name="LabelSuffix">How label file names end.</param>
/// <param name="ClassNames">Class names; null reads <c>classes.txt</c> in the root.</param>
/// <param name="ReduceZeroLabel">Read stored 0 as ignored and shift the rest down by one.</param>
public sealed record CustomLayoutOptions(string ImageDir = "img_dir", string AnnotationDir = "ann_dir", string ImageSuffix = ".jpg", string LabelSuffix = ".png",
    IReadOnlyList<string>? ClassNames = null, bool ReduceZeroLabel = false);

/// <summary>
/// mmsegmentation's custom layout: <c>img_dir/{split}/…/NAME{image suffix}</c> paired with
/// <c>ann_dir/{split}/…/NAME{label suffix}</c> (same relative path), label PNGs of class indices with
/// 255 ignored; <c>classes.txt</c> (one name a line) names the classes and an optional
/// <c>palette.txt</c> (one "R G B" a line) colours them.
/// </summary>
public sealed class CustomDataset : SegmentationDataset
{
    /// <summary>Name of the class list in the root.</summary>
    public const string ClassesFile = "classes.txt";

    /// <summary>Name of the optional palette in the root.</summary>
    public const string PaletteFile = "palette.txt";

    private CustomDataset(string split, IReadOnlyList<SegmentationItem> items, IReadOnlyList<string> classes, IReadOnlyList<byte[]> palette, bool reduceZero)
        : base(DatasetLayout.Custom, split, items, classes, palette, reduceZero) { }

    /// <summary>Lists split <paramref name="split"/> under <paramref name="root"/>.</summary>
    /// <exception cref="TesseraUserException">A folder or classes.txt is missing, or the split is empty.</exception>
    /// <exception cref="TesseraFormatException">An image has no label of the same name, or a label no image; a bad palette line.</exception>
    public static CustomDataset Open(string root, string split, CustomLayoutOptions? options = null)
    {
        options ??= new CustomLayoutOptions();
        string imgDir = Path.Combine(root, options.ImageDir, split), annDir = Path.Combine(root, options.AnnotationDir, split);
        RequireFolder(imgDir, $"images of split '{split}'");
        RequireFolder(annDir, $"labels of split '{split}'");
        IReadOnlyList<string> classes = options.ClassNames ?? ReadClasses(Path.Combine(root, ClassesFile));
        IReadOnlyList<byte[]> palette = File.Exists(Path.Combine(root, PaletteFile)) ? ReadPalette(Path.Combine(root, PaletteFile)) : DefaultPalette(classes.Count);

        var items = new List<SegmentationItem>();
        var images = ListFiles(imgDir, options.ImageSuffix);
        var stems = new HashSet<string>(StringComparer.Ordinal);
        foreach (string image in images)
        {
            string rel = Path.GetRelativePath(imgDir, image);
            string stem = rel[..^options.ImageSuffix.Length];
            string label = Path.Combine(annDir, stem + options.LabelSuffix);
            if (!File.Exists(label)) throw new TesseraFormatException(image, $"no label {label} for this image");
            stems.Add(stem);
            items.Add(new SegmentationItem(image, label));
        }
        foreach (string label in ListFiles(annDir, options.LabelSuffix))
        {
            string stem = Path.GetRelativePath(annDir, label)[..^options.LabelSuffix.Length];
            if (!stems.Contains(stem)) throw new TesseraFormatException(label, $"no image {Path.Combine(imgDir, stem + options.ImageSuffix)} for this label");
        }
        if (items.Count == 0) throw new TesseraUserException($"{imgDir}: no images ending in '{options.ImageSuffix}'");
        return new CustomDataset(split, items, classes, palette, options.ReduceZeroLabel);
    }

    /// <summary>Reads a class list: one name a line, blank lines skipped.</summary>
    public static IReadOnlyList<string> ReadClasses(string path)
    {
        if (!File.Exists(path)) throw new TesseraUserException($"{path}: file not found (the class names, one a line)");
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (names.Count == 0) throw new TesseraFormatException(path, "no class names");
        return names;
    }

    /// <summary>Reads a palette: one "R G B" (spaces or commas) a line, values 0–255.</summary>
    public static IReadOnlyList<byte[]> ReadPalette(string path)
    {
        var palette = new List<byte[]>();
        int lineNo = 0;
        foreach (string raw in File.ReadAllLines(path))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0) continue;
            string[] parts = line.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3 || !parts.All(p => byte.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new TesseraFormatException(path, $"line {lineNo}: expected three values 0-255 (R G B), got '{line}'");
            palette.Add(parts.Select(p => byte.Parse(p, CultureInfo.InvariantCulture)).ToArray());
        }
        return palette;
    }
}
