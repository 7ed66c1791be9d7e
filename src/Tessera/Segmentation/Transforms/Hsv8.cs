namespace Tessera.Segmentation.Transforms;

/// <summary>
/// OpenCV's 8-bit HSV conversions (cvtColor COLOR_RGB2HSV / COLOR_HSV2RGB on uint8), which
/// mmsegmentation's PhotoMetricDistortion goes through: H in [0, 180) (degrees halved), S and V in
/// [0, 255]. RGB→HSV in OpenCV's fixed point (12 fractional bits, its division tables); HSV→RGB in
/// single precision with its sector table, rounded to nearest even.
/// </summary>
internal static class Hsv8
{
    private const int Shift = 12;
    private static readonly int[] SDiv = MakeTable(255.0);
    private static readonly int[] HDiv = MakeTable(180.0 / 6);

    private static int[] MakeTable(double numerator)
    {
        var t = new int[256];
        for (int i = 1; i < 256; i++) t[i] = (int)Math.Round(numerator * (1 << Shift) / i, MidpointRounding.ToEven);
        return t;
    }

    /// <summary>Interleaved RGB bytes to interleaved HSV bytes, in place.</summary>
    public static void FromRgb(Span<byte> pixels)
    {
        for (int i = 0; i + 2 < pixels.Length; i += 3)
        {
            int r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];
            int v = Math.Max(b, Math.Max(g, r)), vmin = Math.Min(b, Math.Min(g, r));
            int diff = v - vmin;
            int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
            int s = (diff * SDiv[v] + (1 << (Shift - 1))) >> Shift;
            int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
            h = (h * HDiv[diff] + (1 << (Shift - 1))) >> Shift;
            h += h < 0 ? 180 : 0;
            pixels[i] = (byte)h;
            pixels[i + 1] = (byte)s;
            pixels[i + 2] = (byte)v;
        }
    }

    // Per 8-bit hue: OpenCV's sector ⌊h·6/180⌋ (wrapped into 0–5) and the fraction within it, in single precision.
    private static readonly (int Sector, float Fraction)[] HueTable = MakeHueTable();

    private static (int, float)[] MakeHueTable()
    {
        const float HScale = 6f / 180f;
        var t = new (int, float)[256];
        for (int i = 0; i < 256; i++)
        {
            float h = i * HScale;
            while (h >= 6) h -= 6;
            int sector = (int)MathF.Floor(h);
            h -= sector;
            if ((uint)sector >= 6u) { sector = 0; h = 0; }
            t[i] = (sector, h);
        }
        return t;
    }

    /// <summary>Interleaved HSV bytes to interleaved RGB bytes, in place.</summary>
    public static void ToRgb(Span<byte> pixels)
    {
        var table = HueTable;
        for (int i = 0; i + 2 < pixels.Length; i += 3)
        {
            float s = pixels[i + 1] * (1f / 255f), v = pixels[i + 2] * (1f / 255f);
            float r, g, b;
            if (s == 0) r = g = b = v;
            else
            {
                var (sector, h) = table[pixels[i]];
                float t0 = v, t1 = v * (1f - s), t2 = v * (1f - s * h), t3 = v * (1f - s * (1f - h));
                switch (sector)
                {
                    case 0: r = t0; g = t3; b = t1; break;
                    case 1: r = t2; g = t0; b = t1; break;
                    case 2: r = t1; g = t0; b = t3; break;
                    case 3: r = t1; g = t2; b = t0; break;
                    case 4: r = t3; g = t1; b = t0; break;
                    default: r = t0; g = t1; b = t2; break;
                }
            }
            pixels[i] = Sat(r * 255f);
            pixels[i + 1] = Sat(g * 255f);
            pixels[i + 2] = Sat(b * 255f);
        }
    }

    private static byte Sat(float x) => x <= 0 ? (byte)0 : x >= 255 ? (byte)255 : (byte)MathF.Round(x, MidpointRounding.ToEven);
}
