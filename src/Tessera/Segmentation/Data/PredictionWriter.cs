using Tessera.IO;

namespace Tessera.Segmentation.Data;

/// <summary>
/// Writes predicted label maps in a dataset's own convention, so they can be scored by its tools or
/// viewed: VOC palette PNGs (indices with VOC's colours), Cityscapes trainId maps (8-bit gray), ADE20K
/// stored labels (class + 1, ignored → 0, undoing reduce_zero_label as mmsegmentation's format_results
/// does), custom gray maps; and colour overlays.
/// </summary>
public static class PredictionWriter
{
    /// <summary>The bytes stored for a model's labels under <paramref name="dataset"/>'s convention.</summary>
    public static byte[] Stored(ISegmentationDataset dataset, ReadOnlySpan<byte> labels)
    {
        var stored = labels.ToArray();
        if (dataset.ReduceZeroLabel)
            for (int i = 0; i < stored.Length; i++) stored[i] = stored[i] == 255 ? (byte)0 : (byte)(stored[i] + 1);
        return stored;
    }

    /// <summary>Writes a label map [height × width] as <paramref name="dataset"/> stores labels (see the class summary).</summary>
    public static void WriteLabels(ISegmentationDataset dataset, string path, ReadOnlySpan<byte> labels, int width, int height)
    {
        byte[] stored = Stored(dataset, labels);
        IReadOnlyList<byte[]>? palette = dataset.Layout == DatasetLayout.Voc ? VocDataset.FilePalette : null;
        PalettePng.Write(path, stored, width, height, palette);
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
