namespace Tessera.IO;

/// <summary>A label map: one class index per pixel, row-major.</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Labels">Width × Height indices.</param>
public sealed record LabelMap(int Width, int Height, byte[] Labels);

/// <summary>
/// Reads PNG label maps as index maps, exactly: 8-bit (or lower-depth) grayscale PNGs give their gray
/// values, and palette PNGs give their palette indices (not their colours), as PIL's "P" mode does.
/// RGB images are refused, since their colours are not indices. Decoded by <see cref="PngReader"/>
/// (bit depths 1–8, interlaced or not).
/// </summary>
public static class LabelPng
{
    /// <summary>Reads a label PNG file.</summary>
    /// <exception cref="TesseraFormatException">Not a PNG, an RGB PNG, 16-bit or corrupt.</exception>
    public static LabelMap Read(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes label-PNG bytes; <paramref name="name"/> names them in errors.</summary>
    public static LabelMap Decode(ReadOnlySpan<byte> png, string name)
    {
        if (PngReader.IsPng(png) && png.Length >= 33)
        {
            // The colour type and depth are refused from the header, before any pixel is inflated.
            int depth = png[24], colorType = png[25];
            if (colorType is 2 or 6 or 4)
                throw new TesseraFormatException(name, "RGB or gray+alpha image is not a label map; expected 8-bit single-channel or palette PNG");
            if (colorType == 0 && depth > 8) throw new TesseraFormatException(name, $"{depth}-bit PNG; expected 8-bit (or lower) label values");
        }
        PngRaster raster = PngReader.Read(png, name);
        int width = raster.Width, height = raster.Height, bits = raster.BitDepth, stride = raster.Stride;
        var labels = new byte[(long)width * height];
        for (int y = 0; y < height; y++)
        {
            var row = raster.Data.AsSpan(y * stride, stride);
            var dst = labels.AsSpan(y * width, width);
            if (bits == 8) row[..width].CopyTo(dst);
            else
            {
                int mask = (1 << bits) - 1, perByte = 8 / bits;
                for (int x = 0; x < width; x++)
                    dst[x] = (byte)((row[x / perByte] >> (8 - bits * (x % perByte + 1))) & mask);
            }
        }
        return new LabelMap(width, height, labels);
    }
}
