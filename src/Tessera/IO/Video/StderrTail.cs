namespace Tessera.IO.Video;

/// <summary>The last few lines a program wrote to stderr (thread-safe: lines arrive on a reader thread).</summary>
internal sealed class StderrTail
{
    private const int Keep = 8;
    private readonly Queue<string> _lines = new();

    /// <summary>Adds a line (null, the end of the stream, and blank lines are ignored).</summary>
    public void Add(string? line)
    {
        if (string.IsNullOrWhiteSpace(line)) return;
        lock (_lines)
        {
            _lines.Enqueue(line.Trim());
            while (_lines.Count > Keep) _lines.Dequeue();
        }
    }

    /// <summary>The last line, or <paramref name="otherwise"/> when there was none.</summary>
    public string Last(string otherwise)
    {
        lock (_lines) return _lines.Count == 0 ? otherwise : _lines.Last();
    }
}
