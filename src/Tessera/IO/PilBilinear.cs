namespace Tessera.IO;

/// <summary>
/// Bilinear resampling of 8-bit images exactly as Pillow's <c>Image.resize(size, BILINEAR)</c> computes it
/// (Pillow's Resample.c): a triangle filter widened by the scale factor when shrinking (so downscaling
/// antialiases), coefficients normalised per output pixel and converted to 22-bit fixed point, a horizontal
/// pass over the needed rows then a vertical pass, each rounding and clipping to 0–255. SAM's official
/// preprocessing resizes through Pillow, so this reproduces its encoder input byte for byte. <see cref="ResizeBicubic"/>
/// is the same with Pillow's bicubic filter (Keys' cubic convolution, a = −0.5, support 2), Pillow's default for
/// <c>resize</c>, which SAM 2's video frame loader uses.
/// </summary>
public static class PilBilinear
{
    private const int PrecisionBits = 32 - 8 - 2;

    private static double Triangle(double t) => t < 1.0 ? 1.0 - t : 0.0;

    // Pillow's bicubic_filter: Keys' cubic convolution kernel with a = −0.5.
    private static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static (int[] Bounds, int[] Coeffs, int KSize) Coefficients(int inSize, int outSize, bool bicubic)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = (bicubic ? 2.0 : 1.0) * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var coeffs = new int[outSize * ksize];
        var k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            double ww = 0;
            for (int x = 0; x < xmax; x++)
            {
                double t = (x + xmin - center + 0.5) * ss;
                double w = bicubic ? Cubic(t) : Triangle(Math.Abs(t));
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < ksize; x++)
            {
                double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
                coeffs[xx * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PrecisionBits)) : (int)(0.5 + v * (1 << PrecisionBits));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (bounds, coeffs, ksize);
    }

    private static byte Clip8(long v)
    {
        long s = v >> PrecisionBits;
        return (byte)(s < 0 ? 0 : s > 255 ? 255 : s);
    }

    /// <summary>Resizes an interleaved image [h, w, channels] of bytes to [newH, newW, channels].</summary>
    public static byte[] Resize(ReadOnlySpan<byte> image, int height, int width, int channels, int newHeight, int newWidth) =>
        Resize(image, height, width, channels, newHeight, newWidth, bicubic: false);

    /// <summary>As <see cref="Resize(ReadOnlySpan{byte}, int, int, int, int, int)"/> with Pillow's bicubic filter (<c>Image.resize(size, BICUBIC)</c>).</summary>
    public static byte[] ResizeBicubic(ReadOnlySpan<byte> image, int height, int width, int channels, int newHeight, int newWidth) =>
        Resize(image, height, width, channels, newHeight, newWidth, bicubic: true);

    private static byte[] Resize(ReadOnlySpan<byte> image, int height, int width, int channels, int newHeight, int newWidth, bool bicubic)
    {
        if (height < 1 || width < 1 || newHeight < 1 || newWidth < 1) throw new ArgumentException("image sizes must be positive");
        if (image.Length != height * width * channels) throw new ArgumentException($"expected {height * width * channels} bytes, got {image.Length}");
        bool needH = newWidth != width, needV = newHeight != height;
        var (boundsV, coeffsV, kV) = Coefficients(height, newHeight, bicubic);
        int firstRow = boundsV[0];
        int lastRow = boundsV[newHeight * 2 - 2] + boundsV[newHeight * 2 - 1];

        byte[] source = image.ToArray();
        int rows = height, rowOffset = 0;
        if (needH)
        {
            var (boundsH, coeffsH, kH) = Coefficients(width, newWidth, bicubic);
            if (needV)
            {
                rowOffset = firstRow;
                rows = lastRow - firstRow;
            }
            var temp = new byte[rows * newWidth * channels];
            for (int y = 0; y < rows; y++)
            {
                int inRow = (y + (needV ? rowOffset : 0)) * width * channels;
                for (int xx = 0; xx < newWidth; xx++)
                {
                    int xmin = boundsH[xx * 2], xmax = boundsH[xx * 2 + 1];
                    for (int c = 0; c < channels; c++)
                    {
                        long ss = 1L << (PrecisionBits - 1);
                        for (int x = 0; x < xmax; x++) ss += source[inRow + (x + xmin) * channels + c] * (long)coeffsH[xx * kH + x];
                        temp[(y * newWidth + xx) * channels + c] = Clip8(ss);
                    }
                }
            }
            source = temp;
            width = newWidth;
        }
        if (!needV) return source;
        int shift = needH ? rowOffset : 0;
        var output = new byte[newHeight * width * channels];
        for (int yy = 0; yy < newHeight; yy++)
        {
            int ymin = boundsV[yy * 2] - shift, ymax = boundsV[yy * 2 + 1];
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                {
                    long ss = 1L << (PrecisionBits - 1);
                    for (int y = 0; y < ymax; y++) ss += source[((y + ymin) * width + x) * channels + c] * (long)coeffsV[yy * kV + y];
                    output[(yy * width + x) * channels + c] = Clip8(ss);
                }
        }
        return output;
    }
}
