namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// Which past outputs condition a frame (sam2_base.py, <c>_prepare_memory_conditioned_features</c>; Ravi et al. 2024,
/// §4 "Memory bank"): all conditioning (prompted) frames, or the closest ones; num_maskmem − 1 recent tracked frames
/// (every r-th, plus the adjacent one) with temporal positions; and up to max_obj_ptrs object pointers with their
/// temporal offsets. Frame maps are keyed by frame index.
/// </summary>
public static class Sam2MemoryBank
{
    /// <summary>
    /// Up to <paramref name="max"/> conditioning frames for <paramref name="frame"/> (−1: all): the closest before, the
    /// closest at or after, then the temporally closest others (<c>select_closest_cond_frames</c>); and the rest.
    /// </summary>
    public static (IReadOnlyList<int> Selected, IReadOnlyList<int> Unselected) SelectConditioningFrames(int frame, IReadOnlyCollection<int> conditioning, int max)
    {
        var all = conditioning.Order().ToList();
        if (max == -1 || all.Count <= max) return (all, []);
        var selected = new List<int>();
        int? before = all.Where(t => t < frame).Select(t => (int?)t).LastOrDefault();
        if (before is { } b) selected.Add(b);
        int? after = all.Where(t => t >= frame).Select(t => (int?)t).FirstOrDefault();
        if (after is { } a) selected.Add(a);
        selected.AddRange(all.Where(t => !selected.Contains(t)).OrderBy(t => Math.Abs(t - frame)).Take(max - selected.Count));
        return (selected, all.Where(t => !selected.Contains(t)).ToList());
    }

    /// <summary>
    /// The frames whose memories are candidates at temporal positions 1 … numMaskMem − 1 (position numMaskMem − 1 the
    /// adjacent frame; the others every <paramref name="stride"/>-th frame before it, in tracking order).
    /// </summary>
    public static IReadOnlyList<(int TPos, int Frame)> RecentFrames(int frame, int numMaskMem, int stride, bool reverse)
    {
        var result = new List<(int, int)>();
        for (int tPos = 1; tPos < numMaskMem; tPos++)
        {
            int tRel = numMaskMem - tPos; // frames before the current one
            int prev;
            if (tRel == 1) prev = reverse ? frame + 1 : frame - 1;
            else if (!reverse) prev = FloorDiv(frame - 2, stride) * stride - (tRel - 2) * stride;
            else prev = -FloorDiv(-(frame + 2), stride) * stride + (tRel - 2) * stride;
            result.Add((tPos, prev));
        }
        return result;
    }

    /// <summary>
    /// The object pointers attended on <paramref name="frame"/>, each with its temporal offset: the selected conditioning
    /// frames' (only those not after the frame in tracking order when <paramref name="onlyPast"/>; offset (frame − t)
    /// signed by the direction, or |frame − t|), then up to maxPointers − 1 tracked frames before it, nearest first.
    /// </summary>
    public static IReadOnlyList<(int Offset, int Frame, bool Conditioning)> PointerFrames(int frame, IReadOnlyList<int> selectedConditioning, Func<int, bool> hasOther,
        int numFrames, int maxPointers, bool onlyPast, bool signed, bool reverse)
    {
        var result = new List<(int, int, bool)>();
        foreach (int t in selectedConditioning)
        {
            if (onlyPast && (reverse ? t < frame : t > frame)) continue;
            result.Add((signed ? (frame - t) * (reverse ? -1 : 1) : Math.Abs(frame - t), t, true));
        }
        int max = Math.Min(numFrames, maxPointers);
        for (int d = 1; d < max; d++)
        {
            int t = reverse ? frame + d : frame - d;
            if (t < 0 || t >= numFrames) break;
            if (hasOther(t)) result.Add((d, t, false));
        }
        return result;
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
}
