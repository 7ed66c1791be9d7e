namespace Tessera.Server;

/// <summary>
/// Serialises the calls to one model: one runs, at most <see cref="Capacity"/> wait (first come, first served);
/// a call beyond that is refused with 429 at once. A waiting call whose token is cancelled (the client went
/// away, the server is stopping) leaves the queue without running.
/// </summary>
public sealed class ModelQueue(string name, int capacity) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SingleThreadScheduler _thread = new(name);
    private int _pending;

    /// <summary>The model's name, for messages.</summary>
    public string Name { get; } = name;

    /// <summary>Calls that may wait besides the running one.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>Calls running or waiting now.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Calls refused because the queue was full, since start.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    private long _rejected;

    /// <summary>Runs <paramref name="work"/> on a pool thread when the model is free.</summary>
    /// <exception cref="ApiException">429: the queue is full.</exception>
    public async Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancel)
    {
        if (Interlocked.Increment(ref _pending) > Capacity + 1)
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Increment(ref _rejected);
            throw new ApiException(429, $"the {Name} model is busy: {Capacity} requests are already waiting; retry shortly", "busy");
        }
        try
        {
            await _gate.WaitAsync(cancel).ConfigureAwait(false);
            try
            {
                cancel.ThrowIfCancellationRequested();
                // On the model's own thread: tensor work is long and synchronous, a dispose scope opened inside stays on
                // one thread, and native memory is allocated and freed in one glibc arena rather than in every pool thread's.
                return await Task.Factory.StartNew(() => work(cancel), cancel, TaskCreationOptions.None, _thread).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>
    /// Closes the queue: waits up to <paramref name="timeout"/> for the running call and keeps the model for itself.
    /// False when the call is still running (its model must then not be disposed).
    /// </summary>
    public bool Close(TimeSpan timeout) => _gate.Wait(timeout);

    /// <inheritdoc />
    public void Dispose()
    {
        _gate.Dispose();
        _thread.Dispose();
    }
}
