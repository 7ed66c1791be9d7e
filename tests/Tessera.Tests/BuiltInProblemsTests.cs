namespace Tessera.Tests;

/// <summary>The built-in analytic problems are what their documentation says.</summary>
public class BuiltInProblemsTests
{
    [Fact]
    public void Multiscale_mixture_spans_the_documented_widths_weights_and_distances()
    {
        var p = BuiltInProblems.Get("multiscale32");
        var m = p.Mixture;
        Assert.Equal(32, m.Dim);
        Assert.Equal(12, m.Weights.Length);
        Assert.Equal(1.5, m.Stds.Max(), 12);
        Assert.Equal(0.02, m.Stds.Min(), 12);
        Assert.Equal(100, m.Weights[0] / m.Weights[^1], 6);
        Assert.Equal(1, m.Weights.Sum(), 12);
        double[] distances = m.Means.Select(mu => Math.Sqrt(mu.Sum(e => e * e))).ToArray();
        Assert.Equal(2.5, distances.Min(), 9);
        Assert.Equal(20, distances.Max(), 9);
        // The narrowest mode is the rarest.
        Assert.Equal(Array.IndexOf(m.Stds, m.Stds.Min()), Array.IndexOf(m.Weights, m.Weights.Min()));
        Assert.Equal(4096, p.Samples);
        Assert.Contains("multiscale32", BuiltInProblems.Names);
    }
}
