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
