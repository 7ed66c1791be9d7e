namespace Tessera.Segmentation.Metrics;

/// <summary>Scores of one class. NaN where the ratio is 0/0 (see <see cref="SegmentationMetrics"/>).</summary>
/// <param name="Name">Class name.</param>
/// <param name="IoU">Intersection over union, TP / (TP + FP + FN).</param>
/// <param name="Acc">Class accuracy (recall), TP / (TP + FN).</param>
/// <param name="Dice">2 TP / (2 TP + FP + FN).</param>
/// <param name="Precision">TP / (TP + FP).</param>
/// <param name="Recall">TP / (TP + FN).</param>
/// <param name="Fscore">(1 + β²) P R / (β² P + R).</param>
/// <param name="GroundTruthPixels">Pixels of this class in the ground truth (TP + FN).</param>
/// <param name="PredictedPixels">Pixels predicted as this class (TP + FP).</param>
public sealed record ClassScores(string Name, double IoU, double Acc, double Dice, double Precision, double Recall, double Fscore, long GroundTruthPixels, long PredictedPixels);

/// <summary>
/// Segmentation metrics from a confusion matrix, by mmsegmentation's formulas
/// (<c>intersect_and_union</c> and <c>total_area_to_metrics</c>): per class I = TP, L = TP + FN
/// (ground truth), P = TP + FP (prediction), U = L + P − I; IoU = I/U, Acc = I/L, Dice = 2I/(L + P),
/// Precision = I/P, Recall = I/L, F_β = (1 + β²)·Precision·Recall / (β²·Precision + Recall);
/// aAcc = ΣI / ΣL; the means (mIoU, mAcc, mDice, mFscore) skip NaN; FWIoU = Σ (L_c/ΣL)·IoU_c.
/// <para>
/// Default (mmsegmentation's convention): a 0/0 ratio is NaN and that class is left out of the mean.
/// So a class absent from both ground truth and prediction has NaN everywhere; a class predicted but
/// never present has IoU 0 and Dice 0 (counted) but Acc and Recall NaN (skipped); a class present but
/// never predicted has Precision NaN and hence F-score NaN.
/// </para>
/// <para>
/// With <c>zeroDivision</c> set (the torchmetrics style), every 0/0 becomes that value instead and
/// every class enters every mean; for example with 0, a class absent from both maps scores IoU 0 and
/// pulls mIoU down, which the default never does.
/// </para>
/// </summary>
public sealed class SegmentationMetrics
{
    /// <summary>Overall pixel accuracy (PA, aAcc).</summary>
    public double AAcc { get; }

    /// <summary>Mean IoU over classes (MIoU).</summary>
    public double MIoU { get; }

    /// <summary>Mean class accuracy (MPA, mAcc).</summary>
    public double MAcc { get; }

    /// <summary>Mean Dice.</summary>
    public double MDice { get; }

    /// <summary>Mean F-score.</summary>
    public double MFscore { get; }

    /// <summary>Frequency-weighted IoU (weights = ground-truth frequencies).</summary>
    public double FWIoU { get; }

    /// <summary>Per-class scores.</summary>
    public IReadOnlyList<ClassScores> PerClass { get; }

    /// <summary>β of the F-score.</summary>
    public double Beta { get; }

    private SegmentationMetrics(double aAcc, double mIoU, double mAcc, double mDice, double mF, double fwIoU, IReadOnlyList<ClassScores> perClass, double beta)
    {
        AAcc = aAcc; MIoU = mIoU; MAcc = mAcc; MDice = mDice; MFscore = mF; FWIoU = fwIoU; PerClass = perClass; Beta = beta;
    }

    /// <summary>Computes every metric from <paramref name="cm"/>.</summary>
    /// <param name="cm">The confusion matrix.</param>
    /// <param name="classNames">Names for the classes (default "0", "1", …).</param>
    /// <param name="beta">β of the F-score (default 1).</param>
    /// <param name="zeroDivision">Null for mmsegmentation's NaN convention; a value to use for 0/0 otherwise.</param>
    public static SegmentationMetrics Compute(ConfusionMatrix cm, IReadOnlyList<string>? classNames = null, double beta = 1, double? zeroDivision = null)
    {
        int n = cm.NumClasses;
        if (classNames is not null && classNames.Count != n) throw new TesseraUserException(nameof(classNames), $"{classNames.Count} class names for {n} classes");
        double Div(double a, double b) => b != 0 ? a / b : a == 0 && zeroDivision is double z ? z : double.NaN;

        var label = new long[n];
        var pred = new long[n];
        var inter = new long[n];
        for (int g = 0; g < n; g++)
            for (int p = 0; p < n; p++)
            {
                long k = cm[g, p];
                label[g] += k;
                pred[p] += k;
                if (g == p) inter[g] = k;
            }
        long totalLabel = label.Sum(), totalInter = inter.Sum();
        double b2 = beta * beta;
        var per = new ClassScores[n];
        for (int c = 0; c < n; c++)
        {
            double i = inter[c], l = label[c], pr = pred[c], u = l + pr - i;
            double precision = Div(i, pr), recall = Div(i, l);
            double f = Div((1 + b2) * precision * recall, b2 * precision + recall);
            if (double.IsNaN(precision) || double.IsNaN(recall)) f = zeroDivision ?? double.NaN;
            per[c] = new ClassScores(classNames?[c] ?? c.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Div(i, u), recall, Div(2 * i, l + pr), precision, recall, f, label[c], pred[c]);
        }
        double fw = 0;
        for (int c = 0; c < n; c++)
            if (label[c] > 0) fw += (double)label[c] / totalLabel * per[c].IoU;
        return new SegmentationMetrics(
            Div(totalInter, totalLabel),
            NanMean(per.Select(s => s.IoU)), NanMean(per.Select(s => s.Acc)), NanMean(per.Select(s => s.Dice)), NanMean(per.Select(s => s.Fscore)),
            totalLabel > 0 ? fw : double.NaN, per, beta);
    }

    /// <summary>Mean of the non-NaN values (NaN when there are none), as numpy's nanmean.</summary>
    public static double NanMean(IEnumerable<double> values)
    {
        double sum = 0;
        int count = 0;
        foreach (double v in values)
        {
            if (double.IsNaN(v)) continue;
            sum += v;
            count++;
        }
        return count == 0 ? double.NaN : sum / count;
    }
}
