namespace Tessera.Server;

/// <summary>
/// The uploaded clips, at most <see cref="Capacity"/>: a new one evicts the least recently used (its run cancelled, its
/// folder deleted). Evicted ids are remembered (ids only) so that a request for one gets a clear 404.
/// </summary>
public sealed class VideoSessions(int capacity) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<VideoSession> _recent = []; // most recent first
    private readonly HashSet<string> _evicted = [];

    /// <summary>Clips kept at most.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>Clips held.</summary>
    public int Count { get { lock (_lock) return _recent.Count; } }

    /// <summary>Clips evicted since start.</summary>
    public long Evictions { get; private set; }

    /// <summary>Adds <paramref name="session"/> as the most recent; evicts beyond <see cref="Capacity"/>.</summary>
    public void Add(VideoSession session)
    {
        var gone = new List<VideoSession>();
        lock (_lock)
        {
            _recent.Insert(0, session);
            while (_recent.Count > Capacity)
            {
                var last = _recent[^1];
                _recent.RemoveAt(_recent.Count - 1);
                _evicted.Add(last.Id);
                Evictions++;
                gone.Add(last);
            }
        }
        foreach (var s in gone) s.Dispose();
    }

    /// <summary>The clip <paramref name="id"/>, now the most recently used.</summary>
    /// <exception cref="ApiException">404: unknown or evicted.</exception>
    public VideoSession Get(string id)
    {
        lock (_lock)
        {
            int i = _recent.FindIndex(s => s.Id == id);
            if (i >= 0)
            {
                var session = _recent[i];
                _recent.RemoveAt(i);
                _recent.Insert(0, session);
                return session;
            }
            if (_evicted.Contains(id))
                throw new ApiException(404, $"clip '{id}' was evicted (the server keeps {Capacity} clips); upload it again", "evicted");
            throw new ApiException(404, $"clip '{id}' is unknown; upload it first with POST /api/sam/videos", "unknown_video");
        }
    }

    /// <summary>Removes and disposes the clip <paramref name="id"/>.</summary>
    /// <exception cref="ApiException">404: unknown or evicted.</exception>
    public void Remove(string id)
    {
        var session = Get(id);
        lock (_lock) _recent.Remove(session);
        session.Dispose();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        List<VideoSession> all;
        lock (_lock)
        {
            all = [.. _recent];
            _recent.Clear();
        }
        foreach (var s in all) s.Dispose();
    }
}
