namespace Tessera.IO;

/// <summary>
/// Writes label maps as 8-bit PNGs whose stored values are the labels: palette PNGs (colour type 3, a
/// PLTE chunk, as Pascal VOC's SegmentationClass files) or grayscale PNGs (colour type 0, as
/// Cityscapes' trainId maps). <see cref="LabelPng"/> reads both back as the same indices. Written by
/// <see cref="PngWriter"/> with filter type 0 on every row and zlib's fastest level.
/// </summary>
public static class PalettePng
{
    /// <summary>Encodes a label map as PNG bytes; with a palette (up to 256 RGB entries) a palette PNG, else grayscale.</summary>
    /// <param name="labels">Width × Height label values, row-major.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="palette">RGB colours by index, or null for a grayscale PNG.</param>
    public static byte[] Encode(ReadOnlySpan<byte> labels, int width, int height, IReadOnlyList<byte[]>? palette = null)
    {
        if (width <= 0 || height <= 0) throw new TesseraUserException(nameof(width), "the label map must not be empty");
        if (labels.Length != (long)width * height) throw new TesseraUserException(nameof(labels), $"expected {width}x{height} labels, got {labels.Length}");
        if (palette is { Count: 0 or > 256 }) throw new TesseraUserException(nameof(palette), "a palette holds 1 to 256 colours");
        byte[] plte = [];
        if (palette is not null)
        {
            plte = new byte[3 * palette.Count];
            for (int i = 0; i < palette.Count; i++)
            {
                if (palette[i].Length != 3) throw new TesseraUserException(nameof(palette), $"palette entry {i} is not an RGB triple");
                palette[i].CopyTo(plte, 3 * i);
            }
        }
        return PngWriter.Encode(labels, width, height, palette is null ? 0 : 3, plte, adaptive: false, CompressionLevel.Fastest);
    }

    /// <summary>Writes a label map as a PNG file, atomically (see <see cref="Encode"/>).</summary>
    public static void Write(string path, ReadOnlySpan<byte> labels, int width, int height, IReadOnlyList<byte[]>? palette = null) =>
        AtomicFile.WriteAllBytes(path, Encode(labels, width, height, palette));
}
