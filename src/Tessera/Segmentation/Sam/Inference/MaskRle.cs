using System.Text;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>
/// Run-length encoding of binary masks as COCO defines it: runs over the mask in column-major (Fortran)
/// order, alternating 0-runs and 1-runs and starting with a (possibly empty) 0-run; plus COCO's compressed
/// string form (pycocotools' <c>rleToString</c>: each count, delta-coded against the count two before from
/// the third on, in 5-bit groups offset by 48).
/// </summary>
public sealed record MaskRle(int Height, int Width, long[] Counts)
{
    /// <summary>Encodes a row-major mask [h, w].</summary>
    public static MaskRle Encode(ReadOnlySpan<bool> mask, int height, int width)
    {
        if (mask.Length != height * width) throw new ArgumentException($"expected {height * width} pixels, got {mask.Length}");
        var counts = new List<long>();
        bool current = false;
        long run = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0; y < height; y++)
            {
                bool v = mask[y * width + x];
                if (v != current)
                {
                    counts.Add(run);
                    run = 0;
                    current = v;
                }
                run++;
            }
        counts.Add(run);
        return new MaskRle(height, width, [.. counts]);
    }

    /// <summary>Decodes to a row-major mask [h, w].</summary>
    public bool[] Decode()
    {
        var mask = new bool[Height * Width];
        long pos = 0;
        bool value = false;
        foreach (long c in Counts)
        {
            for (long i = 0; i < c; i++, pos++)
            {
                long x = pos / Height, y = pos % Height;
                mask[y * Width + x] = value;
            }
            value = !value;
        }
        if (pos != (long)Height * Width) throw new FormatException($"RLE counts sum to {pos}, expected {Height * Width}");
        return mask;
    }

    /// <summary>Number of foreground pixels (the sum of the 1-runs).</summary>
    public long Area
    {
        get
        {
            long a = 0;
            for (int i = 1; i < Counts.Length; i += 2) a += Counts[i];
            return a;
        }
    }

    /// <summary>COCO's compressed counts string.</summary>
    public string ToCocoString()
    {
        var s = new StringBuilder();
        for (int i = 0; i < Counts.Length; i++)
        {
            long x = Counts[i];
            if (i > 2) x -= Counts[i - 2];
            bool more = true;
            while (more)
            {
                long c = x & 0x1f;
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                s.Append((char)(c + 48));
            }
        }
        return s.ToString();
    }

    /// <summary>Parses COCO's compressed counts string (pycocotools' <c>rleFrString</c>).</summary>
    public static MaskRle FromCocoString(string counts, int height, int width)
    {
        var list = new List<long>();
        int p = 0;
        while (p < counts.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= counts.Length) throw new FormatException("truncated COCO RLE string");
                long c = counts[p] - 48;
                x |= (c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (list.Count > 2) x += list[^2];
            list.Add(x);
        }
        return new MaskRle(height, width, [.. list]);
    }
}
