using Tessera.Training;

namespace Tessera.Plotting;

/// <summary>
/// Draws a <see cref="LossCurve"/> as PNG: the training loss on a log scale (running mean of 20 points) and,
/// in a second PNG beside it (<c>loss-METRIC.png</c>), the evaluation metric. Set it as
/// <see cref="TrainingOptions.CurvePlotter"/> to get loss.png in a run folder.
/// </summary>
public sealed class LossCurvePlotter : ILossCurvePlotter
{
    /// <inheritdoc />
    public void Plot(LossCurve curve, string path, string title)
    {
        ArgumentNullException.ThrowIfNull(curve);
        var plot = new LinePlot { Title = title, XLabel = "step", YLabel = "training loss", LogY = true };
        // A running mean over 20 points keeps the curve readable.
        var xs = curve.Train.Keys.Select(k => (double)k).ToArray();
        var ys = curve.Train.Values.ToArray();
        var smooth = ys.Select((_, i) => ys[Math.Max(0, i - 19)..(i + 1)].Average()).ToArray();
        plot.Series.Add(new Series("loss (running mean of 20)", xs, smooth));
        plot.SavePng(path);
        if (curve.Eval.Count > 0)
        {
            var evalPlot = new LinePlot { Title = title, XLabel = "step", YLabel = curve.EvalName, YBounds = LinePlot.MetricBounds(curve.EvalName) };
            evalPlot.Series.Add(new Series(curve.EvalName, curve.Eval.Keys.Select(k => (double)k).ToArray(), curve.Eval.Values.ToArray()));
            evalPlot.SavePng(Path.Combine(Path.GetDirectoryName(path) ?? ".", Path.GetFileNameWithoutExtension(path) + "-" + curve.EvalName.ToLowerInvariant() + ".png"));
        }
    }
}
