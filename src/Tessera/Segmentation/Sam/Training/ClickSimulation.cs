namespace Tessera.Segmentation.Sam.Training;

/// <summary>A simulated click in image pixels.</summary>
public readonly record struct Click(int X, int Y, bool Positive);

/// <summary>
/// Simulated user clicks for interactive segmentation, as the SAM paper evaluates (§7.1 and App. D.1, after
/// RITM, Sofiiuk et al. 2022): the first click is the object pixel farthest from the object's boundary; each
/// later click is the pixel farthest from the boundary of the larger error region (false negatives give a
/// positive click, false positives a negative one). The image border counts as boundary. Distances are
/// exact Euclidean (Felzenszwalb and Huttenlocher 2012).
/// </summary>
public static class ClickSimulation
{
    /// <summary>Squared Euclidean distance from each pixel of <paramref name="region"/> to the nearest pixel outside it (or outside the image).</summary>
    public static double[] SquaredDistanceToOutside(ReadOnlySpan<bool> region, int h, int w)
    {
        // Padded by one ring of "outside" pixels, so that the border is a boundary.
        int ph = h + 2, pw = w + 2;
        const double Inf = 1e20;
        var f = new double[ph * pw];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                f[(y + 1) * pw + x + 1] = region[y * w + x] ? Inf : 0;
        var column = new double[Math.Max(ph, pw)];
        var result = new double[Math.Max(ph, pw)];
        for (int x = 0; x < pw; x++)
        {
            for (int y = 0; y < ph; y++) column[y] = f[y * pw + x];
            Transform1D(column, ph, result);
            for (int y = 0; y < ph; y++) f[y * pw + x] = result[y];
        }
        for (int y = 0; y < ph; y++)
        {
            Array.Copy(f, y * pw, column, 0, pw);
            Transform1D(column, pw, result);
            Array.Copy(result, 0, f, y * pw, pw);
        }
        var d = new double[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                d[y * w + x] = region[y * w + x] ? f[(y + 1) * pw + x + 1] : 0;
        return d;
    }

    // Lower envelope of parabolas (Felzenszwalb and Huttenlocher 2012, Algorithm 1).
    private static void Transform1D(double[] f, int n, double[] d)
    {
        var v = new int[n];
        var z = new double[n + 1];
        int k = 0;
        z[0] = double.NegativeInfinity;
        z[1] = double.PositiveInfinity;
        for (int q = 1; q < n; q++)
        {
            double s = (f[q] + (double)q * q - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * q - 2.0 * v[k]);
            while (s <= z[k])
            {
                k--;
                s = (f[q] + (double)q * q - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * q - 2.0 * v[k]);
            }
            k++;
            v[k] = q;
            z[k] = s;
            z[k + 1] = double.PositiveInfinity;
        }
        k = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[k + 1] < q) k++;
            d[q] = (double)(q - v[k]) * (q - v[k]) + f[v[k]];
        }
    }

    private static (int Index, double Distance) Farthest(ReadOnlySpan<bool> region, int h, int w)
    {
        var d = SquaredDistanceToOutside(region, h, w);
        int best = -1;
        double max = 0;
        for (int i = 0; i < d.Length; i++)
            if (d[i] > max) (max, best) = (d[i], i);
        return (best, max);
    }

    /// <summary>The first click: the object pixel farthest from its boundary.</summary>
    public static Click First(ReadOnlySpan<bool> truth, int h, int w)
    {
        var (i, _) = Farthest(truth, h, w);
        if (i < 0) throw new ArgumentException("empty object mask");
        return new Click(i % w, i / w, true);
    }

    /// <summary>The next click given the current prediction, or null when the prediction is already exact.</summary>
    public static Click? Next(ReadOnlySpan<bool> truth, ReadOnlySpan<bool> prediction, int h, int w)
    {
        var fn = new bool[h * w];
        var fp = new bool[h * w];
        for (int i = 0; i < fn.Length; i++)
        {
            fn[i] = truth[i] && !prediction[i];
            fp[i] = !truth[i] && prediction[i];
        }
        var (fi, fd) = Farthest(fn, h, w);
        var (pi, pd) = Farthest(fp, h, w);
        if (fi < 0 && pi < 0) return null;
        bool positive = fd > pd;
        int idx = positive ? fi : pi;
        return new Click(idx % w, idx / w, positive);
    }

    /// <summary>Intersection over union of two masks (1 when both are empty).</summary>
    public static double Iou(ReadOnlySpan<bool> a, ReadOnlySpan<bool> b)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] && b[i]) inter++;
            if (a[i] || b[i]) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }
}
