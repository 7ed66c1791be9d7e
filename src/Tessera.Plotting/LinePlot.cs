using System.Globalization;
using ScottPlot;
using Tessera.IO;

namespace Tessera.Plotting;

/// <summary>One line of a <see cref="LinePlot"/>.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="X">X values.</param>
/// <param name="Y">Y values (same length; non-finite values are skipped and break the line).</param>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>
/// Line plots (loss curves, evaluation metrics) rendered to PNG with ScottPlot. Short series get a marker
/// at every point, so one evaluation shows as a dot; a logarithmic axis is ticked at 1-2-5 × 10ᵏ with plain
/// labels; <see cref="YBounds"/> keeps a metric's axis inside its range.
/// </summary>
public sealed class LinePlot
{
    /// <summary>Series with at most this many points are drawn with a marker at every point.</summary>
    public const int MarkerThreshold = 50;

    private static readonly Color[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40),
        new(148, 103, 189), new(140, 86, 75), new(227, 119, 194), new(127, 127, 127),
    ];

    private static readonly Lazy<string?> FontName = new(RegisterFont);

    /// <summary>Title above the plot.</summary>
    public string Title { get; init; } = "";

    /// <summary>X-axis label.</summary>
    public string XLabel { get; init; } = "";

    /// <summary>Y-axis label.</summary>
    public string YLabel { get; init; } = "";

    /// <summary>Logarithmic y axis (positive values only).</summary>
    public bool LogY { get; init; }

    /// <summary>
    /// The range the y values can take (a metric such as mIoU or accuracy: [0, 1]); the axis shows the data's
    /// range inside it, or all of it when the data cover less than a tenth of it. Null: the data's range.
    /// </summary>
    public (double Min, double Max)? YBounds { get; init; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; init; } = 800;

    /// <summary>Image height in pixels.</summary>
    public int Height { get; init; } = 500;

    /// <summary>The lines.</summary>
    public List<Series> Series { get; } = [];

    /// <summary>[0, 1] for metrics that are fractions by definition (IoU, accuracy, Dice, F-score, precision, recall), named as in <paramref name="name"/>; null otherwise.</summary>
    public static (double Min, double Max)? MetricBounds(string name)
    {
        string n = name.ToLowerInvariant();
        return new[] { "iou", "acc", "dice", "f-score", "fscore", "f1", "precision", "recall" }.Any(n.Contains) ? (0, 1) : null;
    }

    /// <summary>Renders the plot to PNG bytes.</summary>
    public byte[] RenderPng()
    {
        using var plot = Build();
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Renders and writes the plot to a PNG file, atomically.</summary>
    public void SavePng(string path) => AtomicFile.WriteAllBytes(path, RenderPng());

    /// <summary>The y-axis range drawn, in data units (before the logarithm on a log axis).</summary>
    public (double Min, double Max) YRange()
    {
        var (lo, hi) = YAxis(Points().Select(p => p.Y).ToList());
        return LogY ? (Math.Pow(10, lo), Math.Pow(10, hi)) : (lo, hi);
    }

    private Plot Build()
    {
        var plot = new Plot();
        if (FontName.Value is string font) plot.Font.Set(font);
        plot.Title(Title);
        plot.XLabel(XLabel);
        plot.YLabel(YLabel);
        bool legend = Series.Count > 1 || Series.Any(s => s.Name.Length > 0);
        for (int i = 0; i < Series.Count; i++)
        {
            Series s = Series[i];
            Color color = Palette[i % Palette.Length];
            int count = Math.Min(s.X.Count, s.Y.Count);
            bool first = true;
            foreach (var (xs, ys) in Segments(s))
            {
                var scatter = plot.Add.Scatter(xs, ys, color);
                scatter.LineWidth = 2;
                scatter.MarkerSize = count <= MarkerThreshold ? 7 : 0;
                if (legend && first) scatter.LegendText = s.Name;
                first = false;
            }
        }
        if (legend) plot.ShowLegend(Alignment.UpperRight);

        var points = Points();
        double xMin = points.Count > 0 ? points.Min(p => p.X) : 0, xMax = points.Count > 0 ? points.Max(p => p.X) : 1;
        // One x value (a single evaluation at step N): the axis runs from 0 to N, so the point sits at its step.
        if (xMax <= xMin) (xMin, xMax) = xMin > 0 ? (0, xMax) : (xMin - 1, xMax + 1);
        double xPad = 0.03 * (xMax - xMin);
        var (yMin, yMax) = YAxis(points.Select(p => p.Y).ToList());
        plot.Axes.SetLimits(xMin - xPad, xMax + xPad, yMin, yMax);
        if (LogY)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            double lo = Math.Pow(10, yMin), hi = Math.Pow(10, yMax);
            foreach (double t in LogTicks(lo, hi)) ticks.AddMajor(Math.Log10(t), FormatTick(t));
            foreach (double t in LogMinorTicks(lo, hi)) ticks.AddMinor(Math.Log10(t));
            plot.Axes.Left.TickGenerator = ticks;
        }
        return plot;
    }

    private List<(double X, double Y)> Points() =>
        Series.SelectMany(s => s.X.Zip(s.Y))
            .Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second) && (!LogY || p.Second > 0))
            .Select(p => (p.First, LogY ? Math.Log10(p.Second) : p.Second)).ToList();

    /// <summary>The y-axis range in plotted units (log10 on a log axis), padded by 5 % and kept inside <see cref="YBounds"/>.</summary>
    private (double Min, double Max) YAxis(List<double> ys)
    {
        (double Min, double Max)? bounds = YBounds is { } b ? LogY ? (Math.Log10(Math.Max(b.Min, double.Epsilon)), Math.Log10(b.Max)) : b : null;
        double lo = ys.Count > 0 ? ys.Min() : bounds?.Min ?? 0, hi = ys.Count > 0 ? ys.Max() : bounds?.Max ?? 1;
        if (bounds is { } r && hi - lo < 0.1 * (r.Max - r.Min)) return r;
        if (hi <= lo) { lo -= LogY ? 0.5 : Math.Max(0.5, 0.1 * Math.Abs(lo)); hi += LogY ? 0.5 : Math.Max(0.5, 0.1 * Math.Abs(hi)); }
        double pad = 0.05 * (hi - lo);
        lo -= pad;
        hi += pad;
        if (bounds is { } c) { lo = Math.Max(lo, c.Min); hi = Math.Min(hi, c.Max); }
        return (lo, hi);
    }

    private IEnumerable<(double[] X, double[] Y)> Segments(Series s)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        for (int k = 0; k < Math.Min(s.X.Count, s.Y.Count); k++)
        {
            double x = s.X[k], y = s.Y[k];
            if (double.IsFinite(x) && double.IsFinite(y) && (!LogY || y > 0))
            {
                xs.Add(x);
                ys.Add(LogY ? Math.Log10(y) : y);
                continue;
            }
            if (xs.Count > 0) yield return (xs.ToArray(), ys.ToArray());
            xs.Clear();
            ys.Clear();
        }
        if (xs.Count > 0) yield return (xs.ToArray(), ys.ToArray());
    }

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

    /// <summary>
    /// Tick values of a logarithmic axis over [lo, hi] (0 &lt; lo &lt; hi): 1, 2 and 5 × 10^k when the range spans
    /// at most three decades, powers of ten otherwise; every integer × 10^k when a range under a decade holds fewer
    /// than three of those, and the range's ends (two significant digits, rounded inwards) when it holds one.
    /// </summary>
    public static IReadOnlyList<double> LogTicks(double lo, double hi)
    {
        if (!(lo > 0) || !(hi > lo)) throw new TesseraUserException("YBounds", $"a logarithmic range needs 0 < lo < hi, got [{lo}, {hi}]");
        List<double> Ticks(double[] mantissas)
        {
            var ticks = new List<double>();
            for (int k = (int)Math.Floor(Math.Log10(lo)) - 1; k <= (int)Math.Ceiling(Math.Log10(hi)); k++)
                foreach (double m in mantissas)
                {
                    double t = Round(m * Math.Pow(10, k));
                    if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.Add(t);
                }
            return ticks;
        }
        var ticks = Ticks(Math.Log10(hi / lo) <= 3 ? [1, 2, 5] : [1]);
        // Less than a decade with fewer than three 1-2-5 values: every integer mantissa (2, 3, 4 …).
        if (ticks.Count < 3 && hi / lo < 10) ticks = Ticks([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        if (ticks.Count < 2)
        {
            // Still a single value: label the range's ends too, rounded inwards to two significant digits.
            double scale = Math.Pow(10, Math.Floor(Math.Log10(lo)) - 1);
            ticks.Add(Round(Math.Ceiling(lo / scale) * scale));
            scale = Math.Pow(10, Math.Floor(Math.Log10(hi)) - 1);
            ticks.Add(Round(Math.Floor(hi / scale) * scale));
        }
        return ticks.Distinct().Order().ToList();
    }

    /// <summary>Minor ticks of a logarithmic axis: the integers 2 … 9 times 10^k inside [lo, hi].</summary>
    public static IReadOnlyList<double> LogMinorTicks(double lo, double hi)
    {
        var ticks = new List<double>();
        if (!(lo > 0) || !(hi > lo) || Math.Log10(hi / lo) > 6) return ticks;
        for (int k = (int)Math.Floor(Math.Log10(lo)); k <= (int)Math.Ceiling(Math.Log10(hi)); k++)
            for (int m = 2; m <= 9; m++)
            {
                double t = Round(m * Math.Pow(10, k));
                if (t >= lo && t <= hi) ticks.Add(t);
            }
        return ticks;
    }

    /// <summary>A tick label: plain decimals from 0.001 to 99,999 ("0.02", "5", "2000"), otherwise "1e-5" style.</summary>
    public static string FormatTick(double v) =>
        v == 0 ? "0"
        : Math.Abs(v) is >= 1e5 or < 1e-3 ? v.ToString("0.##e+0", CultureInfo.InvariantCulture).Replace("e+", "e", StringComparison.Ordinal)
        : v.ToString("0.####", CultureInfo.InvariantCulture);

    private static double Round(double v, int digits = 12) => v == 0 ? 0 : double.Parse(v.ToString("G" + digits, CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string? RegisterFont()
    {
        foreach (string file in new[]
        {
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            @"C:\Windows\Fonts\arial.ttf",
        })
        {
            if (!File.Exists(file)) continue;
            const string name = "Tessera Sans";
            Fonts.AddFontFile(name, file);
            return name;
        }
        return null; // ScottPlot's own default font
    }
}
