namespace Tessera.Segmentation.Data;

/// <summary>
/// The part every layout shares: a list of pairs, decoding (<see cref="ImageIO"/> for images, <see cref="LabelPng"/>
/// for labels, so palette PNGs give their indices), reduce_zero_label, and the validation pass.
/// </summary>
public abstract class SegmentationDataset : ISegmentationDataset
{
    private readonly IReadOnlyList<SegmentationItem> _items;

    /// <summary>Creates the dataset over pairs already listed and checked for partners.</summary>
    protected SegmentationDataset(DatasetLayout layout, string split, IReadOnlyList<SegmentationItem> items, IReadOnlyList<string> classNames, IReadOnlyList<byte[]> palette, bool reduceZeroLabel)
    {
        if (classNames.Count is 0 or > 255) throw new TesseraUserException($"{EnumNames.Name(layout)}: {classNames.Count} classes; expected 1 to 255 (255 is the ignore index)");
        Layout = layout;
        Split = split;
        _items = items;
        ClassNames = classNames;
        Palette = palette.Count >= classNames.Count ? palette : [.. palette, .. DefaultPalette(classNames.Count).Skip(palette.Count)];
        ReduceZeroLabel = reduceZeroLabel;
    }

    /// <inheritdoc />
    public DatasetLayout Layout { get; }

    /// <inheritdoc />
    public string Split { get; }

    /// <inheritdoc />
    public int Count => _items.Count;

    /// <inheritdoc />
    public SegmentationItem this[int index] => _items[index];

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of classes.</summary>
    public int NumClasses => ClassNames.Count;

    /// <inheritdoc />
    public IReadOnlyList<byte[]> Palette { get; }

    /// <inheritdoc />
    public bool ReduceZeroLabel { get; }

    /// <inheritdoc />
    public SegmentationSample Load(int index)
    {
        SegmentationItem item = _items[index];
        var (w, h, rgb) = DecodeRgb(item.Image);
        LabelMap label = LabelPng.Read(item.Label);
        if (label.Width != w || label.Height != h)
            throw new TesseraFormatException(item.Label, $"label map is {label.Width}x{label.Height} but its image {item.Image} is {w}x{h}");
        byte[] labels = label.Labels;
        if (ReduceZeroLabel) ReduceZero(labels);
        return new SegmentationSample(w, h, rgb, labels);
    }

    /// <summary>mmsegmentation's reduce_zero_label: 0 becomes 255, 1 … 254 move down by one, 255 stays.</summary>
    public static void ReduceZero(Span<byte> labels)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            byte v = labels[i];
            labels[i] = v is 0 or 255 ? (byte)255 : (byte)(v - 1);
        }
    }

    /// <summary>Decodes an image file to interleaved RGB bytes.</summary>
    /// <exception cref="TesseraFormatException">Missing or not a decodable image.</exception>
    public static (int Width, int Height, byte[] Rgb) DecodeRgb(string path)
    {
        RgbaImage image = ImageIO.Decode(path);
        int w = image.Width, h = image.Height;
        ReadOnlySpan<byte> rgba = image.Pixels;
        var rgb = new byte[3 * w * h];
        for (int i = 0, n = w * h; i < n; i++)
        {
            rgb[3 * i] = rgba[4 * i];
            rgb[3 * i + 1] = rgba[4 * i + 1];
            rgb[3 * i + 2] = rgba[4 * i + 2];
        }
        return (w, h, rgb);
    }

    /// <summary>
    /// Checks every pair before training: the image's header decodes (its pixels are not decoded), the
    /// label decodes, has the image's size, and holds only class indices below <see cref="NumClasses"/> or
    /// 255 (after reduce_zero_label). Pairs are checked in parallel; the error names the first bad file in
    /// list order.
    /// </summary>
    /// <exception cref="TesseraFormatException">The first pair at fault, naming its file.</exception>
    public void Validate(int threads = 0, CancellationToken cancellation = default)
    {
        if (Count == 0) throw new TesseraUserException($"{EnumNames.Name(Layout)} dataset, split '{Split}': no image/label pairs");
        var errors = new TesseraFormatException?[Count];
        Parallel.For(0, Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancellation },
            i =>
            {
                try { CheckPair(_items[i]); }
                catch (TesseraFormatException e) { errors[i] = e; }
            });
        foreach (var e in errors)
            if (e is not null) throw e;
    }

    private void CheckPair(SegmentationItem item)
    {
        if (!File.Exists(item.Image)) throw new TesseraFormatException(item.Image, "file not found");
        var (w, h) = ImageIO.ReadSize(item.Image);
        if (w <= 0 || h <= 0) throw new TesseraFormatException(item.Image, "image with zero size");
        LabelMap label = LabelPng.Read(item.Label);
        if (label.Width != w || label.Height != h)
            throw new TesseraFormatException(item.Label, $"label map is {label.Width}x{label.Height} but its image {item.Image} is {w}x{h}");
        Span<bool> seen = stackalloc bool[256];
        foreach (byte v in label.Labels) seen[v] = true;
        for (int v = 0; v < 255; v++)
        {
            if (!seen[v]) continue;
            int model = ReduceZeroLabel ? v - 1 : v;
            if (model >= NumClasses)
                throw new TesseraFormatException(item.Label, $"label value {v} {(ReduceZeroLabel ? $"(class {model} after reduce_zero_label) " : "")}is not below the class count {NumClasses} and is not the ignore index 255");
        }
    }

    /// <summary>Distinct colours for <paramref name="n"/> classes: Pascal VOC's bit-interleaved colour map.</summary>
    public static IReadOnlyList<byte[]> DefaultPalette(int n)
    {
        var palette = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (int j = 0; j < 8; j++)
            {
                r |= ((c >> 0) & 1) << (7 - j);
                g |= ((c >> 1) & 1) << (7 - j);
                b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }
            palette[i] = [(byte)r, (byte)g, (byte)b];
        }
        return palette;
    }

    /// <summary>Lists files under <paramref name="folder"/> (recursively) whose names end with <paramref name="suffix"/>, sorted by relative path.</summary>
    protected static List<string> ListFiles(string folder, string suffix) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(suffix, StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith('.'))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>Throws naming <paramref name="folder"/> when it does not exist.</summary>
    protected static void RequireFolder(string folder, string what)
    {
        if (!Directory.Exists(folder)) throw new TesseraUserException($"{folder}: folder not found ({what})");
    }
}
