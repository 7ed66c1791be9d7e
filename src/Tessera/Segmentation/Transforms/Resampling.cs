namespace Tessera.Segmentation.Transforms;

/// <summary>
/// Resizing of interleaved RGB images and label maps with OpenCV's conventions, which mmsegmentation
/// uses: bilinear images (INTER_LINEAR: pixel centres at half-integers, edges clamped, no
/// anti-aliasing) and nearest-neighbour labels (INTER_NEAREST: source index ⌊x · src/dst⌋), so that a
/// resized label map holds only values the original held.
/// </summary>
public static class Resampling
{
    /// <summary>Bilinear resize of an interleaved image with <paramref name="channels"/> bytes per pixel.</summary>
    public static byte[] Bilinear(ReadOnlySpan<byte> src, int width, int height, int channels, int newWidth, int newHeight) =>
        BilinearWindow(src, width, height, channels, newWidth, newHeight, 0, 0, newWidth, newHeight);

    /// <summary>
    /// The window [x, x + w) × [y, y + h) of the bilinear resize to <paramref name="newWidth"/> × <paramref name="newHeight"/>,
    /// computed alone: the same bytes as resizing everything and cropping, at the cost of the window.
    /// </summary>
    public static byte[] BilinearWindow(ReadOnlySpan<byte> src, int width, int height, int channels, int newWidth, int newHeight, int x, int y, int w, int h)
    {
        if (newWidth <= 0 || newHeight <= 0) throw new ArgumentOutOfRangeException(nameof(newWidth), $"target size {newWidth}x{newHeight} must be positive");
        if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > newWidth || y + h > newHeight) throw new ArgumentOutOfRangeException(nameof(x), "window outside the resized image");
        var (x0, xw) = Taps(width, newWidth);
        var (y0, yw) = Taps(height, newHeight);
        int rowLen = w * channels;
        // Horizontal pass over the source rows that the vertical pass reads.
        var rows = new float[height][];
        for (int r = y; r < y + h; r++)
            foreach (int sy in new[] { y0[r], Math.Min(y0[r] + 1, height - 1) })
            {
                if (rows[sy] is not null) continue;
                var row = rows[sy] = new float[rowLen];
                var s = src.Slice(sy * width * channels, width * channels);
                for (int dx = 0; dx < w; dx++)
                {
                    int a = x0[x + dx] * channels, b = Math.Min(x0[x + dx] + 1, width - 1) * channels;
                    float f = xw[x + dx];
                    for (int c = 0; c < channels; c++) row[dx * channels + c] = s[a + c] + f * (s[b + c] - s[a + c]);
                }
            }
        var dst = new byte[h * rowLen];
        for (int r = 0; r < h; r++)
        {
            float[] top = rows[y0[y + r]], bottom = rows[Math.Min(y0[y + r] + 1, height - 1)];
            float f = yw[y + r];
            var d = dst.AsSpan(r * rowLen, rowLen);
            for (int i = 0; i < rowLen; i++)
            {
                float v = top[i] + f * (bottom[i] - top[i]);
                d[i] = (byte)(v + 0.5f);
            }
        }
        return dst;
    }

    // Source index and weight of the right/lower neighbour per output coordinate: x = (d + 0.5)·src/dst − 0.5, clamped.
    private static (int[] Index, float[] Weight) Taps(int src, int dst)
    {
        var index = new int[dst];
        var weight = new float[dst];
        double scale = (double)src / dst;
        for (int d = 0; d < dst; d++)
        {
            double x = (d + 0.5) * scale - 0.5;
            int i = (int)Math.Floor(x);
            double f = x - i;
            if (i < 0) { i = 0; f = 0; }
            if (i >= src - 1) { i = src - 1; f = 0; }
            index[d] = i;
            weight[d] = (float)f;
        }
        return (index, weight);
    }

    /// <summary>Nearest-neighbour resize of an interleaved map (labels: <paramref name="channels"/> = 1).</summary>
    public static byte[] Nearest(ReadOnlySpan<byte> src, int width, int height, int channels, int newWidth, int newHeight)
    {
        if (newWidth <= 0 || newHeight <= 0) throw new ArgumentOutOfRangeException(nameof(newWidth), $"target size {newWidth}x{newHeight} must be positive");
        var xs = new int[newWidth];
        double sx = (double)width / newWidth, sy = (double)height / newHeight;
        for (int x = 0; x < newWidth; x++) xs[x] = Math.Min((int)Math.Floor(x * sx), width - 1);
        var dst = new byte[newWidth * newHeight * channels];
        for (int y = 0; y < newHeight; y++)
        {
            int ys = Math.Min((int)Math.Floor(y * sy), height - 1);
            var s = src.Slice(ys * width * channels, width * channels);
            var d = dst.AsSpan(y * newWidth * channels, newWidth * channels);
            if (channels == 1)
                for (int x = 0; x < newWidth; x++) d[x] = s[xs[x]];
            else
                for (int x = 0; x < newWidth; x++)
                    for (int c = 0; c < channels; c++) d[x * channels + c] = s[xs[x] * channels + c];
        }
        return dst;
    }

    /// <summary>Copies the window [x, x + w) × [y, y + h) of an interleaved map.</summary>
    public static byte[] Crop(ReadOnlySpan<byte> src, int width, int channels, int x, int y, int w, int h)
    {
        var dst = new byte[w * h * channels];
        for (int r = 0; r < h; r++)
            src.Slice(((y + r) * width + x) * channels, w * channels).CopyTo(dst.AsSpan(r * w * channels));
        return dst;
    }
}
