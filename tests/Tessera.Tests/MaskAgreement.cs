namespace Tessera.Tests;

/// <summary>
/// How far masks computed at a lower precision are from the official float32 masks (issue 28's accuracy figures): the
/// share of equal pixels and the IoU of each mask pair, the worst over a set, and a line for the test output.
/// </summary>
internal sealed class MaskAgreement
{
    /// <summary>The lowest share of equal pixels seen.</summary>
    public double WorstAgree { get; private set; } = 1;

    /// <summary>The lowest IoU seen.</summary>
    public double WorstIou { get; private set; } = 1;

    /// <summary>The mean IoU over the pairs seen.</summary>
    public double MeanIou => _count == 0 ? 1 : _iouSum / _count;

    private double _iouSum;
    private int _count;

    /// <summary>Adds a pair of boolean masks of one shape; returns its (share of equal pixels, IoU), IoU 1 for two empty masks.</summary>
    public (double Agree, double Iou) Add(torch.Tensor got, torch.Tensor want)
    {
        using var scope = torch.NewDisposeScope();
        var (g, w) = (got.to(torch.ScalarType.Bool), want.to(torch.ScalarType.Bool));
        double agree = g.eq(w).to(torch.ScalarType.Float64).mean().item<double>();
        double union = (g | w).sum().item<long>(), inter = (g & w).sum().item<long>();
        return Record(agree, union == 0 ? 1 : inter / union);
    }

    /// <summary>Adds a pair of flat boolean masks (decoded RLE).</summary>
    public (double Agree, double Iou) Add(bool[] got, bool[] want)
    {
        int equal = 0, inter = 0, union = 0;
        for (int i = 0; i < want.Length; i++)
        {
            if (got[i] == want[i]) equal++;
            if (got[i] && want[i]) inter++;
            if (got[i] || want[i]) union++;
        }
        return Record(equal / (double)want.Length, union == 0 ? 1 : inter / (double)union);
    }

    private (double, double) Record(double agree, double iou)
    {
        (WorstAgree, WorstIou) = (Math.Min(WorstAgree, agree), Math.Min(WorstIou, iou));
        (_iouSum, _count) = (_iouSum + iou, _count + 1);
        return (agree, iou);
    }

    /// <summary>
    /// Masks [C, H, W] made at a lower precision against the official float32 masks [C, H, W], each pair held to the bar
    /// of issue 28's precision tests: ≥ 99 % of pixels equal and IoU ≥ <paramref name="minIou"/> (0.97 unless a test says
    /// why its fixture needs another; <paramref name="what"/> names the case in failures).
    /// </summary>
    public static MaskAgreement AtLowerPrecision(torch.Tensor got, torch.Tensor want, string what, double minIou = 0.97)
    {
        var agreement = new MaskAgreement();
        for (int k = 0; k < want.shape[0]; k++)
        {
            using var g = got[k];
            using var w = want[k];
            var (agree, iou) = agreement.Add(g, w);
            Assert.True(agree >= 0.99, $"{what} mask {k}: {agree:P2} of pixels agree with float32");
            Assert.True(iou >= minIou, $"{what} mask {k}: IoU {iou:0.0000} with the float32 mask");
        }
        return agreement;
    }

    /// <summary>A one-line summary for the test output.</summary>
    public override string ToString() => $"{_count} masks: pixels equal ≥ {WorstAgree:P3}, IoU ≥ {WorstIou:0.0000} (mean {MeanIou:0.0000})";
}
