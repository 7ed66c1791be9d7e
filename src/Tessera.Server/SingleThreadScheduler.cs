using System.Collections.Concurrent;

namespace Tessera.Server;

/// <summary>A task scheduler that runs every task on one dedicated background thread, in order.</summary>
internal sealed class SingleThreadScheduler : TaskScheduler, IDisposable
{
    private readonly BlockingCollection<Task> _tasks = [];
    private readonly Thread _thread;

    /// <summary>Starts the thread, named after <paramref name="name"/>.</summary>
    public SingleThreadScheduler(string name)
    {
        _thread = new Thread(() =>
        {
            foreach (var task in _tasks.GetConsumingEnumerable()) TryExecuteTask(task);
        })
        { IsBackground = true, Name = $"tessera {name}" };
        _thread.Start();
    }

    /// <inheritdoc />
    public override int MaximumConcurrencyLevel => 1;

    /// <inheritdoc />
    protected override void QueueTask(Task task) => _tasks.Add(task);

    /// <inheritdoc />
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        Thread.CurrentThread == _thread && TryExecuteTask(task);

    /// <inheritdoc />
    protected override IEnumerable<Task> GetScheduledTasks() => [.. _tasks];

    /// <inheritdoc />
    public void Dispose()
    {
        _tasks.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(30));
        _tasks.Dispose();
    }
}
