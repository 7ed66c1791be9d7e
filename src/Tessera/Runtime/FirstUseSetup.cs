namespace Tessera.Runtime;

/// <summary>
/// A process-wide set-up made at most once, the first time it is needed: thread-safe and idempotent. Whoever runs the
/// set-up explicitly first (<see cref="MarkDone"/>) wins, and the application may opt out before first use
/// (<see cref="Enabled"/>). <see cref="TorchRuntime"/> holds the one that applies <see cref="TorchRuntime.Configure"/>'s
/// defaults when a library call needs libtorch and the application never configured it.
/// </summary>
internal sealed class FirstUseSetup
{
    private readonly Action _setUp;
    private readonly object _gate = new();
    private volatile bool _done;

    /// <summary>A set-up that runs <paramref name="setUp"/> and then reports <paramref name="message"/> to <see cref="Log"/>.</summary>
    public FirstUseSetup(Action setUp, string message, bool enabled = true)
    {
        ArgumentNullException.ThrowIfNull(setUp);
        ArgumentNullException.ThrowIfNull(message);
        _setUp = setUp;
        Message = message;
        Enabled = enabled;
    }

    /// <summary>The line written to <see cref="Log"/> when the set-up runs.</summary>
    public string Message { get; }

    /// <summary>Whether <see cref="Ensure"/> may run the set-up; false leaves the process as the application made it.</summary>
    public bool Enabled { get; set; }

    /// <summary>Where the one line announcing the set-up goes (null: nowhere). Default: standard error.</summary>
    public Action<string>? Log { get; set; } = line => Console.Error.WriteLine(line);

    /// <summary>Whether the set-up has been made (by <see cref="Ensure"/>) or made by someone else (<see cref="MarkDone"/>).</summary>
    public bool Done => _done;

    /// <summary>Runs the set-up if it is enabled and not yet done; returns whether this call ran it.</summary>
    public bool Ensure()
    {
        if (_done || !Enabled) return false;
        lock (_gate)
        {
            if (_done || !Enabled) return false;
            _setUp();
            _done = true;
        }
        Log?.Invoke(Message);
        return true;
    }

    /// <summary>Records that the set-up was made explicitly, so <see cref="Ensure"/> never makes it.</summary>
    public void MarkDone()
    {
        lock (_gate) _done = true;
    }
}
