namespace Tessera.Segmentation.Sam.Inference;

/// <summary>
/// Removal of small disconnected regions from a binary mask, as SAM's automatic mask generator post-processes
/// masks: 8-connected components of the holes (background inside) or of the islands (foreground), and those
/// smaller than a threshold filled or removed; if every island is small, the largest one is kept.
/// </summary>
public static class SmallRegions
{
    /// <summary>8-connected component labels (0 for pixels outside <paramref name="mask"/>, 1.. in scan order) and component sizes (index 0 unused).</summary>
    public static (int[] Labels, List<int> Sizes) Components(bool[] mask, int h, int w)
    {
        var labels = new int[h * w];
        var sizes = new List<int> { 0 };
        var stack = new Stack<int>();
        for (int start = 0; start < labels.Length; start++)
        {
            if (!mask[start] || labels[start] != 0) continue;
            int label = sizes.Count, size = 0;
            labels[start] = label;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int p = stack.Pop();
                size++;
                int y = p / w, x = p % w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int ny = y + dy, nx = x + dx;
                        if ((dy == 0 && dx == 0) || ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
                        int q = ny * w + nx;
                        if (mask[q] && labels[q] == 0)
                        {
                            labels[q] = label;
                            stack.Push(q);
                        }
                    }
            }
            sizes.Add(size);
        }
        return (labels, sizes);
    }

    /// <summary>
    /// Fills holes (<paramref name="holes"/> true) or removes islands smaller than <paramref name="minArea"/>;
    /// returns the new mask and whether anything changed.
    /// </summary>
    public static (bool[] Mask, bool Changed) Remove(bool[] mask, int h, int w, int minArea, bool holes)
    {
        var working = holes ? mask.Select(v => !v).ToArray() : mask;
        var (labels, sizes) = Components(working, h, w);
        var small = Enumerable.Range(1, sizes.Count - 1).Where(i => sizes[i] < minArea).ToHashSet();
        if (small.Count == 0) return (mask, false);
        var result = new bool[mask.Length];
        if (holes)
        {
            // Keep background only in large background components: small holes become foreground.
            for (int i = 0; i < result.Length; i++) result[i] = labels[i] == 0 || small.Contains(labels[i]);
        }
        else
        {
            var keep = Enumerable.Range(1, sizes.Count - 1).Where(i => !small.Contains(i)).ToHashSet();
            if (keep.Count == 0) keep.Add(Enumerable.Range(1, sizes.Count - 1).MaxBy(i => sizes[i]));
            for (int i = 0; i < result.Length; i++) result[i] = keep.Contains(labels[i]);
        }
        return (result, true);
    }

    /// <summary>Inclusive tight box (x0, y0, x1, y1) of a mask; zeros when empty.</summary>
    public static int[] Box(bool[] mask, int h, int w)
    {
        int x0 = w, y0 = h, x1 = -1, y1 = -1;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (mask[y * w + x])
                {
                    x0 = Math.Min(x0, x); x1 = Math.Max(x1, x);
                    y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                }
        return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1, y1];
    }
}
