namespace Tessera.Segmentation.Data;

/// <summary>A row of Cityscapes' label table.</summary>
/// <param name="Name">Label name.</param>
/// <param name="Id">The id stored in <c>*_labelIds.png</c>.</param>
/// <param name="TrainId">The training id (0–18), or 255 when the label is not evaluated.</param>
public sealed record CityscapesLabel(string Name, int Id, byte TrainId);

/// <summary>
/// Cityscapes' official label table (cityscapesScripts, helpers/labels.py): 34 label ids, of which 19
/// are trained and evaluated; the rest, and ids outside the table, map to 255. The converter does what
/// cityscapesScripts' createTrainIdLabelImgs does: <c>*_gtFine_labelIds.png</c> → <c>*_gtFine_labelTrainIds.png</c>.
/// </summary>
public static class CityscapesLabels
{
    /// <summary>The table, by id.</summary>
    public static readonly IReadOnlyList<CityscapesLabel> Table =
    [
        new("unlabeled", 0, 255), new("ego vehicle", 1, 255), new("rectification border", 2, 255), new("out of roi", 3, 255),
        new("static", 4, 255), new("dynamic", 5, 255), new("ground", 6, 255), new("road", 7, 0), new("sidewalk", 8, 1),
        new("parking", 9, 255), new("rail track", 10, 255), new("building", 11, 2), new("wall", 12, 3), new("fence", 13, 4),
        new("guard rail", 14, 255), new("bridge", 15, 255), new("tunnel", 16, 255), new("pole", 17, 5), new("polegroup", 18, 255),
        new("traffic light", 19, 6), new("traffic sign", 20, 7), new("vegetation", 21, 8), new("terrain", 22, 9), new("sky", 23, 10),
        new("person", 24, 11), new("rider", 25, 12), new("car", 26, 13), new("truck", 27, 14), new("bus", 28, 15),
        new("caravan", 29, 255), new("trailer", 30, 255), new("train", 31, 16), new("motorcycle", 32, 17), new("bicycle", 33, 18),
    ];

    /// <summary>The 19 training classes, trainId order.</summary>
    public static readonly IReadOnlyList<string> TrainClassNames =
    [
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation", "terrain",
        "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ];

    /// <summary>Cityscapes' colours of the 19 training classes.</summary>
    public static readonly IReadOnlyList<byte[]> TrainPalette =
    [
        [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153], [250, 170, 30],
        [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142],
        [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
    ];

    /// <summary>A 256-entry lookup id → trainId (255 for ids not in the table).</summary>
    public static byte[] IdToTrainId { get; } = MakeLookup();

    private static byte[] MakeLookup()
    {
        var lut = Enumerable.Repeat((byte)255, 256).ToArray();
        foreach (var label in Table) lut[label.Id] = label.TrainId;
        return lut;
    }

    /// <summary>Maps label ids to train ids in place.</summary>
    public static void ToTrainIds(Span<byte> labels)
    {
        byte[] lut = IdToTrainId;
        for (int i = 0; i < labels.Length; i++) labels[i] = lut[labels[i]];
    }

    /// <summary>
    /// Writes <c>NAME_labelTrainIds.png</c> (8-bit gray) beside every <c>NAME_labelIds.png</c> under
    /// <paramref name="folder"/> (recursively), in parallel; returns how many were written. <paramref name="progress"/>
    /// gets the files done so far, from the worker threads.
    /// </summary>
    /// <exception cref="TesseraFormatException">A label-id PNG cannot be decoded.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (the files written so far stay).</exception>
    public static int ConvertFolder(string folder, bool overwrite = true, int threads = 0, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        if (!Directory.Exists(folder)) throw new TesseraUserException($"{folder}: folder not found");
        var files = Directory.EnumerateFiles(folder, "*_labelIds.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        int done = 0;
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancellation }, file =>
        {
            string target = file[..^"_labelIds.png".Length] + "_labelTrainIds.png";
            if (overwrite || !File.Exists(target))
            {
                LabelMap ids = LabelPng.Read(file);
                ToTrainIds(ids.Labels);
                PalettePng.Write(target, ids.Labels, ids.Width, ids.Height);
            }
            progress?.Report(Interlocked.Increment(ref done));
        });
        return files.Count;
    }
}
