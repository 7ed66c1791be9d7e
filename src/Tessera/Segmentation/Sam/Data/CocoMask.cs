using Tessera.Segmentation.Sam.Inference;
namespace Tessera.Segmentation.Sam.Data;

/// <summary>
/// COCO's mask operations on run-length encodings, exactly as cocoapi's <c>common/maskApi.c</c> (the C code
/// that pycocotools wraps) computes them: polygon rasterisation (<c>rleFrPoly</c>), union and intersection
/// (<c>rleMerge</c>), bounding boxes (<c>rleToBbox</c>) and IoU with crowd semantics (<c>rleIou</c>).
/// Counts are unsigned 32-bit in cocoapi; they are held as <see cref="long"/> here and never exceed h·w.
/// </summary>
public static class CocoMask
{
    /// <summary>
    /// The largest polygon coordinate accepted, in pixels. The rasteriser walks every edge point by point (at 5 points a
    /// pixel), so a coordinate such as 2⁶² from a damaged file would walk for ever; no real image is a million pixels wide.
    /// </summary>
    public const double MaxCoordinate = 1_000_000;

    /// <summary>
    /// Rasterises a polygon (x0, y0, x1, y1, …) as cocoapi's <c>rleFrPoly</c>: the corners are scaled by 5 and
    /// rounded, the edges walked densely on that grid, and a pixel (x, y) is inside when the boundary crosses
    /// column x (at its centre) above y's centre; crossings toggle runs down each column.
    /// </summary>
    public static MaskRle FromPolygon(ReadOnlySpan<double> xy, int height, int width)
    {
        if (xy.Length % 2 != 0) throw new ArgumentException("a polygon needs an even number of coordinates", nameof(xy));
        foreach (double c in xy)
            if (!(Math.Abs(c) <= MaxCoordinate)) throw new ArgumentOutOfRangeException(nameof(xy), c, $"polygon coordinates must be finite and within ±{MaxCoordinate:0}");
        int k = xy.Length / 2;
        const double scale = 5;
        var x = new int[k + 1];
        var y = new int[k + 1];
        for (int j = 0; j < k; j++) x[j] = CInt(scale * xy[2 * j] + .5);
        for (int j = 0; j < k; j++) y[j] = CInt(scale * xy[2 * j + 1] + .5);
        x[k] = x[0];
        y[k] = y[0];
        var u = new List<int>();
        var v = new List<int>();
        // Upsample: integer points densely along every edge (a line walk along its longer axis).
        for (int j = 0; j < k; j++)
        {
            int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
            int dx = Math.Abs(xe - xs), dy = Math.Abs(ys - ye);
            bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if (flip) (xs, xe, ys, ye) = (xe, xs, ye, ys);
            double s = dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
            if (dx >= dy)
                for (int d = 0; d <= dx; d++)
                {
                    int t = flip ? dx - d : d;
                    u.Add(t + xs);
                    v.Add(CInt(ys + s * t + .5));
                }
            else
                for (int d = 0; d <= dy; d++)
                {
                    int t = flip ? dy - d : d;
                    v.Add(t + ys);
                    u.Add(CInt(xs + s * t + .5));
                }
        }
        // Boundary crossings of pixel-column centres, downsampled to the pixel grid.
        var a = new List<long>();
        for (int j = 1; j < u.Count; j++)
        {
            if (u[j] == u[j - 1]) continue;
            double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
            xd = (xd + .5) / scale - .5;
            if (Math.Floor(xd) != xd || xd < 0 || xd > width - 1) continue;
            double yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
            yd = (yd + .5) / scale - .5;
            if (yd < 0) yd = 0;
            else if (yd > height) yd = height;
            yd = Math.Ceiling(yd);
            a.Add((uint)((int)xd * height + (int)yd));
        }
        a.Add((long)height * width);
        a.Sort();
        long p = 0;
        for (int j = 0; j < a.Count; j++)
        {
            long t = a[j];
            a[j] -= p;
            p = t;
        }
        // Zero-length runs fold into the run after next (two crossings at one pixel cancel).
        var b = new List<long> { a[0] };
        for (int j = 1; j < a.Count;)
        {
            if (a[j] > 0) b.Add(a[j++]);
            else
            {
                j++;
                if (j < a.Count) b[^1] += a[j++];
            }
        }
        return new MaskRle(height, width, [.. b]);
    }

    /// <summary>C's (int) conversion of a double as gcc on x86-64 does it: truncation, and INT_MIN for NaN or out of range.</summary>
    private static int CInt(double value) =>
        double.IsNaN(value) || value >= 2147483648.0 || value <= -2147483649.0 ? int.MinValue : (int)value;

    /// <summary>Union (or intersection) of masks of one size, as cocoapi's <c>rleMerge</c>.</summary>
    public static MaskRle Merge(IReadOnlyList<MaskRle> masks, bool intersect = false)
    {
        if (masks.Count == 0) throw new ArgumentException("nothing to merge", nameof(masks));
        var first = masks[0];
        if (masks.Count == 1) return first;
        int h = first.Height, w = first.Width;
        var cnts = new List<long>(first.Counts);
        for (int i = 1; i < masks.Count; i++)
        {
            var bm = masks[i];
            if (bm.Height != h || bm.Width != w) throw new ArgumentException($"mask {i} is {bm.Height}×{bm.Width}, expected {h}×{w}", nameof(masks));
            var am = cnts.ToArray();
            cnts.Clear();
            long ca = am[0], cb = bm.Counts[0], cc = 0, ct = 1;
            bool v = false, va = false, vb = false;
            int ia = 1, ib = 1;
            while (ct > 0)
            {
                long c = Math.Min(ca, cb);
                cc += c;
                ct = 0;
                ca -= c;
                if (ca == 0 && ia < am.Length) { ca = am[ia++]; va = !va; }
                ct += ca;
                cb -= c;
                if (cb == 0 && ib < bm.Counts.Length) { cb = bm.Counts[ib++]; vb = !vb; }
                ct += cb;
                bool vp = v;
                v = intersect ? va && vb : va || vb;
                if (v != vp || ct == 0)
                {
                    cnts.Add(cc);
                    cc = 0;
                }
            }
        }
        return new MaskRle(h, w, [.. cnts]);
    }

    /// <summary>Bounding box [x, y, w, h] as cocoapi's <c>rleToBbox</c> (all zeros for an empty mask).</summary>
    public static double[] ToBbox(MaskRle rle)
    {
        long h = rle.Height, w = rle.Width;
        int m = rle.Counts.Length / 2 * 2;
        if (m == 0) return [0, 0, 0, 0];
        long xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
        for (int j = 0; j < m; j++)
        {
            cc += rle.Counts[j];
            long t = cc - j % 2, y = t % h, x = (t - y) / h;
            if (j % 2 == 0) xp = x;
            else if (xp < x) { ys = 0; ye = h - 1; }
            xs = Math.Min(xs, x);
            xe = Math.Max(xe, x);
            ys = Math.Min(ys, y);
            ye = Math.Max(ye, y);
        }
        return [xs, ys, xe - xs + 1, ye - ys + 1];
    }

    /// <summary>
    /// IoU of a detection and a ground-truth mask as cocoapi's <c>rleIou</c>: 0 when the boxes do not overlap;
    /// for a crowd ground truth the union is the detection's area alone (COCO evaluation's rule).
    /// </summary>
    public static double Iou(MaskRle dt, MaskRle gt, bool gtIsCrowd = false)
    {
        if (dt.Height != gt.Height || dt.Width != gt.Width) return -1;
        double[] db = ToBbox(dt), gb = ToBbox(gt);
        double bw = Math.Min(db[2] + db[0], gb[2] + gb[0]) - Math.Max(db[0], gb[0]);
        if (bw <= 0) return 0;
        double bh = Math.Min(db[3] + db[1], gb[3] + gb[1]) - Math.Max(db[1], gb[1]);
        if (bh <= 0) return 0;
        long ca = dt.Counts[0], cb = gt.Counts[0], inter = 0, union = 0, ct = 1;
        bool va = false, vb = false;
        int a = 1, b = 1;
        while (ct > 0)
        {
            long c = Math.Min(ca, cb);
            if (va || vb)
            {
                union += c;
                if (va && vb) inter += c;
            }
            ct = 0;
            ca -= c;
            if (ca == 0 && a < dt.Counts.Length) { ca = dt.Counts[a++]; va = !va; }
            ct += ca;
            cb -= c;
            if (cb == 0 && b < gt.Counts.Length) { cb = gt.Counts[b++]; vb = !vb; }
            ct += cb;
        }
        if (inter == 0) union = 1;
        else if (gtIsCrowd) union = dt.Area;
        return (double)inter / union;
    }
}
