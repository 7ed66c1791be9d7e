namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// The inference state of one video (the official predictor's <c>inference_state</c>): its frames, the objects in the
/// order they were first prompted with their prompts and outputs, and a bounded cache of frame features (each frame's
/// features are computed once while cached; the least recently used leave first). Made by
/// <see cref="Sam2VideoPredictor.InitState(string, Sam2VideoStateOptions?, CancellationToken)"/>; dispose it when done.
/// </summary>
public sealed class Sam2VideoState : IDisposable
{
    private readonly Dictionary<int, Sam2FrameFeatures> _cache = [];
    private readonly LinkedList<int> _recent = new();
    private readonly List<Sam2ObjectTrack> _objects = [];

    private readonly bool _ownsFrames;

    internal Sam2VideoState(Sam2VideoFrames frames, int cacheCapacity, bool ownsFrames, Sam2VideoStateOptions? options = null)
    {
        Frames = frames;
        CacheCapacity = cacheCapacity;
        _ownsFrames = ownsFrames;
        Options = options ?? new Sam2VideoStateOptions();
    }

    /// <summary>Where the state keeps its tensors (offloading to the CPU).</summary>
    public Sam2VideoStateOptions Options { get; }

    /// <summary>The frames.</summary>
    public Sam2VideoFrames Frames { get; }
    /// <summary>Number of frames.</summary>
    public int FrameCount => Frames.Count;
    /// <summary>Frames whose features stay cached.</summary>
    public int CacheCapacity { get; }
    /// <summary>Frames whose features were computed (a frame computed again after leaving the cache counts again).</summary>
    public int FeatureComputations { get; private set; }
    /// <summary>The objects, in model order (the order they were first prompted).</summary>
    public IReadOnlyList<Sam2ObjectTrack> Objects => _objects;
    /// <summary>The object ids in model order.</summary>
    public IReadOnlyList<int> ObjectIds => [.. _objects.Select(o => o.Id)];

    /// <summary>Object <paramref name="id"/>, or null when it was never prompted (or was removed).</summary>
    internal Sam2ObjectTrack? Find(int id) => _objects.FirstOrDefault(o => o.Id == id);

    /// <summary>Object <paramref name="id"/>, added at the end of the model order when new (the official <c>_obj_id_to_idx</c>).</summary>
    internal Sam2ObjectTrack Object(int id)
    {
        var track = Find(id);
        if (track is null)
        {
            track = new Sam2ObjectTrack(id);
            _objects.Add(track);
        }
        return track;
    }

    internal Sam2FrameFeatures Features(int frame, Func<int, Sam2FrameFeatures> compute)
    {
        if (_cache.TryGetValue(frame, out var cached))
        {
            _recent.Remove(frame);
            _recent.AddFirst(frame);
            return cached;
        }
        var features = compute(frame);
        FeatureComputations++;
        _cache[frame] = features;
        _recent.AddFirst(frame);
        while (_recent.Count > CacheCapacity)
        {
            int old = _recent.Last!.Value;
            _recent.RemoveLast();
            _cache.Remove(old, out var evicted);
            evicted?.Dispose();
        }
        return features;
    }

    /// <summary>Removes one object with its prompts and outputs; the others keep their order.</summary>
    internal void Remove(Sam2ObjectTrack track)
    {
        _objects.Remove(track);
        track.Dispose();
    }

    /// <summary>Removes every object with its prompts and outputs (the official <c>reset_state</c>); cached features stay.</summary>
    public void Reset()
    {
        foreach (var o in _objects) o.Dispose();
        _objects.Clear();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Reset();
        foreach (var f in _cache.Values) f.Dispose();
        _cache.Clear();
        _recent.Clear();
        if (_ownsFrames) Frames.Dispose();
    }
}
