namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// One object's tracking state (the official per-object slices of the inference state): its prompts per frame, its
/// outputs on conditioning (prompted) and other frames, the outputs of prompts not yet merged by a propagation, and
/// the direction each frame was tracked in.
/// </summary>
public sealed class Sam2ObjectTrack : IDisposable
{
    internal Sam2ObjectTrack(int id) => Id = id;

    /// <summary>The caller's object id.</summary>
    public int Id { get; }
    internal Dictionary<int, (torch.Tensor Coords, torch.Tensor Labels)> Points { get; } = [];
    internal Dictionary<int, torch.Tensor> Masks { get; } = [];
    /// <summary>Outputs of conditioning frames, by frame.</summary>
    public SortedDictionary<int, Sam2FrameOutput> Conditioning { get; } = [];
    /// <summary>Outputs of the other tracked frames, by frame.</summary>
    public SortedDictionary<int, Sam2FrameOutput> NonConditioning { get; } = [];
    internal SortedDictionary<int, Sam2FrameOutput> TempConditioning { get; } = [];
    internal SortedDictionary<int, Sam2FrameOutput> TempNonConditioning { get; } = [];
    internal Dictionary<int, bool> TrackedReverse { get; } = [];

    /// <summary>The latest output on <paramref name="frame"/>: an unmerged prompt's, then a conditioning frame's, then a tracked one's.</summary>
    public Sam2FrameOutput? Latest(int frame, bool conditioning) =>
        (conditioning ? TempConditioning : TempNonConditioning).GetValueOrDefault(frame)
        ?? Conditioning.GetValueOrDefault(frame) ?? NonConditioning.GetValueOrDefault(frame);

    internal static void Put(SortedDictionary<int, Sam2FrameOutput> map, int frame, Sam2FrameOutput output)
    {
        if (map.TryGetValue(frame, out var old) && !ReferenceEquals(old, output)) old.Dispose();
        map[frame] = output;
    }

    /// <summary>Forgets the clicks (and box) on <paramref name="frame"/>.</summary>
    internal void DropPoints(int frame)
    {
        if (Points.Remove(frame, out var p)) { p.Coords.Dispose(); p.Labels.Dispose(); }
    }

    /// <summary>Forgets the mask prompt on <paramref name="frame"/>.</summary>
    internal void DropMask(int frame)
    {
        if (Masks.Remove(frame, out var m)) m.Dispose();
    }

    /// <summary>Forgets prompts and outputs (the id stays).</summary>
    internal void Clear()
    {
        foreach (var (c, l) in Points.Values) { c.Dispose(); l.Dispose(); }
        foreach (var m in Masks.Values) m.Dispose();
        Points.Clear();
        Masks.Clear();
        var outputs = Conditioning.Values.Concat(NonConditioning.Values).Concat(TempConditioning.Values).Concat(TempNonConditioning.Values).Distinct().ToList();
        foreach (var o in outputs) o.Dispose();
        Conditioning.Clear();
        NonConditioning.Clear();
        TempConditioning.Clear();
        TempNonConditioning.Clear();
        TrackedReverse.Clear();
    }

    /// <inheritdoc />
    public void Dispose() => Clear();
}
