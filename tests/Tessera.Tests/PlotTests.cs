using SkiaSharp;
using Tessera.Plotting;

namespace Tessera.Tests;

public class PlotTests
{
    [Fact]
    public void Line_plot_draws_each_series_in_its_colour()
    {
        var plot = new LinePlot { Title = "loss", XLabel = "step", YLabel = "loss", Width = 400, Height = 300, LogY = true };
        plot.Series.Add(new Series("train", [1, 2, 3, 4], [1.0, 0.5, 0.25, 0.125]));
        plot.Series.Add(new Series("val", [1, 2, 3, 4], [1.2, 0.8, double.NaN, 0.3]));
        using var bitmap = SKBitmap.Decode(plot.RenderPng());
        Assert.Equal((400, 300), (bitmap.Width, bitmap.Height));
        int blue = 0, orange = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (c.Red < 60 && c.Green is > 100 and < 140 && c.Blue > 160) blue++;
                if (c.Red > 230 && c.Green is > 110 and < 145 && c.Blue < 40) orange++;
            }
        Assert.True(blue > 100, $"blue pixels {blue}");
        Assert.True(orange > 100, $"orange pixels {orange}");
    }

    [Theory]
    [InlineData(0, 1, 5, new[] { 0, 0.2, 0.4, 0.6, 0.8, 1.0 })]
    [InlineData(3, 97, 4, new[] { 20.0, 40, 60, 80 })]
    public void Ticks_are_round_numbers(double lo, double hi, int target, double[] expected)
    {
        double[] ticks = LinePlot.NiceTicks(lo, hi, target).ToArray();
        Assert.Equal(expected.Length, ticks.Length);
        for (int i = 0; i < ticks.Length; i++) Assert.Equal(expected[i], ticks[i], 9);
    }
}

public class PlotAxisTests
{
    private static int CountColour(byte[] png, SkiaSharp.SKColor colour, int tolerance = 40)
    {
        using var bitmap = SKBitmap.Decode(png);
        int n = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (Math.Abs(c.Red - colour.Red) + Math.Abs(c.Green - colour.Green) + Math.Abs(c.Blue - colour.Blue) < tolerance) n++;
            }
        return n;
    }

    [Fact]
    public void A_single_evaluation_is_drawn_as_a_marker_in_the_series_colour()
    {
        var plot = new LinePlot { Title = "run", XLabel = "step", YLabel = "mIoU", Width = 400, Height = 300, YBounds = LinePlot.MetricBounds("mIoU") };
        plot.Series.Add(new Series("mIoU", [300], [0.42]));
        int blue = CountColour(plot.RenderPng(), new SKColor(31, 119, 180));
        // A 7-pixel marker covers about 38 pixels, the legend's marker and line about as many again.
        Assert.True(blue >= 40, $"blue pixels {blue}");
        var empty = new LinePlot { Title = "run", XLabel = "step", YLabel = "mIoU", Width = 400, Height = 300, YBounds = (0, 1) };
        empty.Series.Add(new Series("mIoU", [300], [double.NaN]));
        int legendOnly = CountColour(empty.RenderPng(), new SKColor(31, 119, 180));
        Assert.True(blue - legendOnly >= 20, $"point adds {blue - legendOnly} pixels");
    }

    [Theory]
    [InlineData(new[] { 0.42 }, 0.0, 1.0)] // one value: the whole metric range
    [InlineData(new[] { 0.95, 0.99, 1.0 }, 0.0, 1.0)] // the top stays at 1
    public void Metric_axes_stay_inside_zero_one(double[] values, double lo, double hi)
    {
        var plot = new LinePlot { YBounds = LinePlot.MetricBounds("mIoU@3") };
        plot.Series.Add(new Series("m", values.Select((_, i) => 100.0 * i).ToArray(), values));
        var (min, max) = plot.YRange();
        Assert.InRange(min, lo, values.Min());
        Assert.InRange(max, values.Max(), hi);
    }

    [Fact]
    public void Middle_metric_ranges_are_zoomed_but_bounded()
    {
        var plot = new LinePlot { YBounds = (0, 1) };
        plot.Series.Add(new Series("m", [0, 1, 2], [0.5, 0.7, 0.8]));
        var (min, max) = plot.YRange();
        Assert.InRange(min, 0.4, 0.5);
        Assert.InRange(max, 0.8, 0.9);
        Assert.Equal((0.0, 1.0), LinePlot.MetricBounds("accuracy"));
        Assert.Null(LinePlot.MetricBounds("ema loss"));
    }

    [Theory]
    [InlineData(0.3, 4.2, new[] { 0.5, 1, 2 })]
    [InlineData(0.011, 0.6, new[] { 0.02, 0.05, 0.1, 0.2, 0.5 })]
    [InlineData(1e-4, 20, new[] { 1e-4, 1e-3, 1e-2, 0.1, 1, 10 })] // more than three decades: powers of ten only
    [InlineData(1.9, 3.4, new[] { 2.0, 3 })] // under a decade with one 1-2-5 value: integer mantissas
    [InlineData(1.02, 2.44, new[] { 1.1, 2, 2.4 })] // one integer mantissa: the ends too, rounded inwards
    [InlineData(0.87, 2.44, new[] { 0.9, 1, 2 })]
    public void Log_ticks_are_one_two_five(double lo, double hi, double[] expected)
    {
        var ticks = LinePlot.LogTicks(lo, hi);
        Assert.Equal(expected.Length, ticks.Count);
        for (int i = 0; i < ticks.Count; i++) Assert.Equal(expected[i], ticks[i], 12);
    }

    [Theory]
    [InlineData(2.0, "2")]
    [InlineData(0.05, "0.05")]
    [InlineData(20000.0, "20000")]
    [InlineData(1e-4, "1e-4")]
    [InlineData(2e6, "2e6")]
    public void Tick_labels_are_short(double value, string label) => Assert.Equal(label, LinePlot.FormatTick(value));

    [Fact]
    public void The_loss_curve_and_the_metric_plot_are_written()
    {
        using var dir = new TempDir();
        var curve = new Tessera.Training.LossCurve("mIoU");
        for (int s = 1; s <= 300; s++) curve.AddTrain(s, 3.2 * Math.Exp(-s / 80.0) + 0.4);
        curve.AddEval(300, 0.31);
        new LossCurvePlotter().Plot(curve, dir.File("loss.png"), "gcn");
        Assert.True(new FileInfo(dir.File("loss.png")).Length > 1000);
        byte[] metric = File.ReadAllBytes(dir.File("loss-miou.png"));
        Assert.True(CountColour(metric, new SKColor(31, 119, 180)) >= 40);
        if (Environment.GetEnvironmentVariable("TESSERA_PLOT_DIR") is string keep)
            foreach (string f in Directory.GetFiles(dir.Path, "*.png")) File.Copy(f, Path.Combine(keep, Path.GetFileName(f)), true);
    }
}
