using System.Globalization;
using SkiaSharp;
using Tessera.IO;

namespace Tessera.Plotting;

/// <summary>One line of a <see cref="LinePlot"/>.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="X">X values.</param>
/// <param name="Y">Y values (same length; non-finite values are skipped).</param>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>Simple line plots (loss curves and the like) rendered to PNG with SkiaSharp.</summary>
public sealed class LinePlot
{
    private static readonly SKColor[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40),
        new(148, 103, 189), new(140, 86, 75), new(227, 119, 194), new(127, 127, 127),
    ];

    /// <summary>Title above the plot.</summary>
    public string Title { get; init; } = "";

    /// <summary>X-axis label.</summary>
    public string XLabel { get; init; } = "";

    /// <summary>Y-axis label.</summary>
    public string YLabel { get; init; } = "";

    /// <summary>Logarithmic y axis (positive values only).</summary>
    public bool LogY { get; init; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; init; } = 800;

    /// <summary>Image height in pixels.</summary>
    public int Height { get; init; } = 500;

    /// <summary>The lines.</summary>
    public List<Series> Series { get; } = [];

    /// <summary>Renders the plot to PNG bytes.</summary>
    public byte[] RenderPng()
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        SKCanvas canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using SKTypeface typeface = LoadTypeface();
        using var font = new SKFont(typeface, 13);
        using var titleFont = new SKFont(typeface, 16);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };

        const float left = 70, right = 20, top = 40, bottom = 50;
        var plot = new SKRect(left, top, Width - right, Height - bottom);

        var points = Series.SelectMany(s => s.X.Zip(s.Y)).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second) && (!LogY || p.Second > 0)).ToList();
        double xMin = points.Count > 0 ? points.Min(p => p.First) : 0, xMax = points.Count > 0 ? points.Max(p => p.First) : 1;
        double yMin = points.Count > 0 ? points.Min(p => Ty(p.Second)) : 0, yMax = points.Count > 0 ? points.Max(p => Ty(p.Second)) : 1;
        if (xMax <= xMin) { xMin -= 0.5; xMax += 0.5; }
        if (yMax <= yMin) { yMin -= 0.5; yMax += 0.5; }
        double yPad = 0.05 * (yMax - yMin);
        yMin -= yPad; yMax += yPad;

        float Px(double x) => (float)(plot.Left + (x - xMin) / (xMax - xMin) * plot.Width);
        float Py(double ty) => (float)(plot.Bottom - (ty - yMin) / (yMax - yMin) * plot.Height);

        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, IsAntialias = true };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.2f, Style = SKPaintStyle.Stroke, IsAntialias = true };
        foreach (double t in NiceTicks(xMin, xMax, 8))
        {
            float x = Px(t);
            canvas.DrawLine(x, plot.Top, x, plot.Bottom, grid);
            canvas.DrawText(Format(t), x, plot.Bottom + 18, SKTextAlign.Center, font, ink);
        }
        foreach (double t in NiceTicks(yMin, yMax, 6))
        {
            float y = Py(t);
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            canvas.DrawText(Format(LogY ? Math.Pow(10, t) : t), plot.Left - 6, y + 4, SKTextAlign.Right, font, ink);
        }
        canvas.DrawRect(plot, axis);

        for (int i = 0; i < Series.Count; i++)
        {
            Series s = Series[i];
            using var pen = new SKPaint { Color = Palette[i % Palette.Length], StrokeWidth = 2, Style = SKPaintStyle.Stroke, IsAntialias = true };
            using var path = new SKPath();
            bool open = false;
            for (int k = 0; k < Math.Min(s.X.Count, s.Y.Count); k++)
            {
                double x = s.X[k], y = s.Y[k];
                if (!double.IsFinite(x) || !double.IsFinite(y) || (LogY && y <= 0)) { open = false; continue; }
                if (!open) { path.MoveTo(Px(x), Py(Ty(y))); open = true; }
                else path.LineTo(Px(x), Py(Ty(y)));
            }
            canvas.Save();
            canvas.ClipRect(plot);
            canvas.DrawPath(path, pen);
            canvas.Restore();
            if (Series.Count > 1 || s.Name.Length > 0)
            {
                // The legend is as wide as its longest entry, so long names stay inside the plot.
                float textWidth = Series.Max(t => font.MeasureText(t.Name));
                float ly = plot.Top + 16 + 18 * i, legendLeft = plot.Right - textWidth - 45;
                canvas.DrawLine(legendLeft, ly - 4, legendLeft + 25, ly - 4, pen);
                canvas.DrawText(s.Name, legendLeft + 32, ly, SKTextAlign.Left, font, ink);
            }
        }

        canvas.DrawText(Title, Width / 2f, 24, SKTextAlign.Center, titleFont, ink);
        canvas.DrawText(XLabel, plot.MidX, Height - 12, SKTextAlign.Center, font, ink);
        canvas.Save();
        canvas.RotateDegrees(-90, 16, plot.MidY);
        canvas.DrawText(YLabel, 16, plot.MidY, SKTextAlign.Center, font, ink);
        canvas.Restore();

        using SKImage image = surface.Snapshot();
        using SKData data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Renders and writes the plot to a PNG file, atomically.</summary>
    public void SavePng(string path) => AtomicFile.WriteAllBytes(path, RenderPng());

    private double Ty(double y) => LogY ? Math.Log10(y) : y;

    /// <summary>Round tick positions (1, 2, 5 × 10^k steps) covering [lo, hi].</summary>
    public static IEnumerable<double> NiceTicks(double lo, double hi, int target)
    {
        double raw = (hi - lo) / Math.Max(1, target);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / mag;
        double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + 1e-9 * step; t += step)
            yield return Math.Abs(t) < 1e-12 * step ? 0 : t;
    }

    private static string Format(double v) =>
        v == 0 ? "0" : Math.Abs(v) is >= 1e5 or < 1e-3 ? v.ToString("0.##E+0", CultureInfo.InvariantCulture) : v.ToString("0.####", CultureInfo.InvariantCulture);

    private static SKTypeface LoadTypeface()
    {
        foreach (string file in new[]
        {
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            @"C:\Windows\Fonts\arial.ttf",
        })
        {
            if (File.Exists(file) && SKTypeface.FromFile(file) is { } face) return face;
        }
        return SKTypeface.FromFamilyName("sans-serif") ?? SKTypeface.Default;
    }
}
