namespace Tessera.Segmentation.Data;

/// <summary>
/// The classes a segmentation model predicts and how its label files are stored: class names and colours in label
/// order, and the dataset convention of label files (<see cref="DatasetLayout.Voc"/>: palette PNGs with VOC's colours;
/// <see cref="ReduceZeroLabel"/>: stored value = class + 1, as ADE20K stores labels). Training records it in the
/// model configuration of a checkpoint, so whoever loads the checkpoint names, colours and writes labels alike.
/// </summary>
public sealed record LabelSet
{
    /// <summary>Class names, label order.</summary>
    public IReadOnlyList<string> Names { get; init; } = [];

    /// <summary>Class colours as <c>#rrggbb</c>, label order (as many as <see cref="Names"/>).</summary>
    public IReadOnlyList<string> Colors { get; init; } = [];

    /// <summary>The dataset layout whose label-file convention predictions follow, or null for plain 8-bit class-index PNGs.</summary>
    public DatasetLayout? Layout { get; init; }

    /// <summary>Whether stored label files hold class + 1 with 0 for "other" (mmsegmentation's reduce_zero_label).</summary>
    public bool ReduceZeroLabel { get; init; }

    /// <summary>The colours as RGB bytes, label order.</summary>
    [JsonIgnore]
    public IReadOnlyList<byte[]> Palette => [.. Colors.Select(Rgb)];

    /// <summary>The classes and label convention of <paramref name="dataset"/>.</summary>
    public static LabelSet Of(ISegmentationDataset dataset) => new()
    {
        Names = [.. dataset.ClassNames],
        Colors = [.. dataset.Palette.Take(dataset.ClassNames.Count).Select(Hex)],
        Layout = dataset.Layout,
        ReduceZeroLabel = dataset.ReduceZeroLabel,
    };

    /// <summary>The eleven classes of Fashion-MNIST scenes (background and the ten garments) with their colours.</summary>
    public static LabelSet Scenes { get; } = new()
    {
        Names = [.. FashionMnistScenes.ClassNames],
        Colors = [.. FashionMnistScenes.Palette.Select(Hex)],
    };

    /// <summary>
    /// The classes of a model trained before checkpoints recorded them: the scene classes for a model of Fashion-MNIST
    /// scenes (not <paramref name="imageNetInput"/>) with eleven classes, else "class i" in VOC's colour map.
    /// </summary>
    public static LabelSet Default(int classes, bool imageNetInput) =>
        !imageNetInput && classes == Scenes.Names.Count ? Scenes : new LabelSet
        {
            Names = [.. Enumerable.Range(0, classes).Select(c => $"class {c}")],
            Colors = [.. SegmentationDataset.DefaultPalette(classes).Select(Hex)],
        };

    /// <summary>Checks that there is one colour of the form <c>#rrggbb</c> per name, and <paramref name="classes"/> names.</summary>
    /// <exception cref="TesseraUserException">A mismatch (parameter <see cref="Names"/> or <see cref="Colors"/>).</exception>
    public void Validate(int classes)
    {
        if (Names.Count != classes) throw new TesseraUserException(nameof(Names), $"{Names.Count} class names for a model of {classes} classes");
        if (Colors.Count != Names.Count) throw new TesseraUserException(nameof(Colors), $"{Colors.Count} colours for {Names.Count} classes");
        foreach (string c in Colors)
            if (c.Length != 7 || c[0] != '#' || !int.TryParse(c.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _))
                throw new TesseraUserException(nameof(Colors), $"'{c}' is not a colour #rrggbb");
    }

    /// <summary>An RGB colour as <c>#rrggbb</c>.</summary>
    public static string Hex(byte[] rgb) => $"#{rgb[0]:x2}{rgb[1]:x2}{rgb[2]:x2}";

    private static byte[] Rgb(string hex)
    {
        int v = int.Parse(hex.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return [(byte)(v >> 16), (byte)(v >> 8), (byte)v];
    }
}
