namespace Tessera.Segmentation.Data;

/// <summary>
/// Writes predicted label maps in a dataset's own convention, so they can be scored by its tools or
/// viewed: VOC palette PNGs (indices with VOC's colours), Cityscapes trainId maps (8-bit gray), ADE20K
/// stored labels (class + 1, ignored → 0, undoing reduce_zero_label as mmsegmentation's format_results
/// does), custom gray maps; and colour overlays.
/// </summary>
public static class PredictionWriter
{
    /// <summary>The subfolder of a prediction output folder that holds the label PNGs (what <c>seg eval</c> reads).</summary>
    public const string LabelsFolder = "labels";

    /// <summary>The subfolder of a prediction output folder that holds the colour overlays.</summary>
    public const string OverlaysFolder = "overlays";

    /// <summary>
    /// The folder of label maps of <paramref name="folder"/>: its <see cref="LabelsFolder"/> when it is the output of
    /// batch prediction (a <see cref="LabelsFolder"/> subfolder and no PNG of its own), else the folder itself.
    /// </summary>
    public static string LabelFolderOf(string folder)
    {
        string labels = Path.Combine(folder, LabelsFolder);
        return Directory.Exists(labels) && !Directory.EnumerateFiles(folder, "*.png").Any() ? labels : folder;
    }

    /// <summary>The bytes stored for a model's labels under the convention of <paramref name="labels"/> (class + 1 with reduce_zero_label, 255 → 0).</summary>
    public static byte[] Stored(LabelSet labels, ReadOnlySpan<byte> prediction)
    {
        var stored = prediction.ToArray();
        if (labels.ReduceZeroLabel)
            for (int i = 0; i < stored.Length; i++) stored[i] = stored[i] == 255 ? (byte)0 : (byte)(stored[i] + 1);
        return stored;
    }

    /// <summary>A label map [height × width] as a PNG file's bytes in the convention of <paramref name="labels"/> (see the class summary).</summary>
    public static byte[] EncodeLabels(LabelSet labels, ReadOnlySpan<byte> prediction, int width, int height)
    {
        IReadOnlyList<byte[]>? palette = labels.Layout == DatasetLayout.Voc ? VocDataset.FilePalette : null;
        return PalettePng.Encode(Stored(labels, prediction), width, height, palette);
    }

    /// <summary>Writes a label map [height × width] atomically as <see cref="EncodeLabels"/> encodes it.</summary>
    public static void WriteLabels(LabelSet labels, string path, ReadOnlySpan<byte> prediction, int width, int height) =>
        AtomicFile.WriteAllBytes(path, EncodeLabels(labels, prediction, width, height));

    /// <summary>Writes a label map [height × width] as <paramref name="dataset"/> stores labels.</summary>
    public static void WriteLabels(ISegmentationDataset dataset, string path, ReadOnlySpan<byte> prediction, int width, int height) =>
        WriteLabels(LabelSet.Of(dataset), path, prediction, width, height);

    /// <summary>The colour overlay (<see cref="Overlay"/>, α = ½) of a prediction on its image as a PNG file's bytes.</summary>
    public static byte[] EncodeOverlay(ReadOnlySpan<byte> prediction, SegmentationSample image, IReadOnlyList<byte[]> palette)
    {
        var overlay = Overlay(prediction, image.Width, image.Height, palette, image.Image);
        using var tensor = TorchSharp.torch.tensor(overlay, [3, image.Height, image.Width], TorchSharp.torch.ScalarType.Byte);
        return ImageIO.EncodePng(tensor);
    }

    /// <summary>
    /// A colour overlay as uint8 RGB planes [3 × height × width]: each pixel α·class colour + (1 − α)·image
    /// (ignored pixels keep the image); <paramref name="rgb"/> interleaved, or null for the colours alone.
    /// </summary>
    public static byte[] Overlay(ReadOnlySpan<byte> labels, int width, int height, IReadOnlyList<byte[]> palette, ReadOnlySpan<byte> rgb = default, double alpha = 0.5)
    {
        int plane = width * height;
        var dst = new byte[3 * plane];
        bool hasImage = rgb.Length == 3 * plane;
        for (int i = 0; i < plane; i++)
        {
            byte l = labels[i];
            for (int c = 0; c < 3; c++)
            {
                double image = hasImage ? rgb[3 * i + c] : 0;
                double colour = l < palette.Count ? palette[l][c] : (hasImage ? image : 255);
                dst[c * plane + i] = (byte)Math.Clamp(Math.Round(hasImage ? alpha * colour + (1 - alpha) * image : colour), 0, 255);
            }
        }
        return dst;
    }
}
