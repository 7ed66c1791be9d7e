using System.Diagnostics;

namespace Tessera.Runtime.Sharding;

/// <summary>How one item of a sharded job went.</summary>
public enum ItemOutcome
{
    /// <summary>Processed by this run.</summary>
    Done,
    /// <summary>Its output existed already (an earlier, interrupted run finished it).</summary>
    Skipped,
    /// <summary>It failed with a user-facing error (bad input); the others went on.</summary>
    Failed,
}

/// <summary>
/// Runs one shard of a batch job idempotently: the shard's items in sorted order, items whose output exists
/// skipped, each item written by <c>process</c> (which must write its outputs atomically), an item that fails
/// with a <see cref="TesseraUserException"/> recorded and passed over, and the summary written last.
/// Killing the process at any moment loses at most the item in progress; rerunning the shard redoes only that.
/// </summary>
public static class ShardedWork
{
    /// <summary>Runs the items of <paramref name="shard"/> out of <paramref name="sortedItems"/>.</summary>
    /// <param name="sortedItems">Every item of the whole job, in its canonical (sorted) order.</param>
    /// <param name="shard">This process's shard.</param>
    /// <param name="name">An item's name, for the summary.</param>
    /// <param name="isDone">Whether an item's output already exists.</param>
    /// <param name="process">Processes one item (writing its outputs atomically).</param>
    /// <param name="summaryPath">Where the summary goes (null: not written).</param>
    /// <param name="progress">Called after each item with the count handled so far and the item's outcome.</param>
    /// <param name="cancellation">Stops between items (the summary is then not written).</param>
    public static ShardSummary Run<T>(IReadOnlyList<T> sortedItems, Shard shard, Func<T, string> name, Func<T, bool> isDone, Action<T> process,
        string? summaryPath = null, Action<int, ItemOutcome>? progress = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var mine = shard.Select(sortedItems).ToList();
        int done = 0, skipped = 0, handled = 0;
        var failed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in mine)
        {
            cancellation.ThrowIfCancellationRequested();
            ItemOutcome outcome;
            if (isDone(item)) { skipped++; outcome = ItemOutcome.Skipped; }
            else
            {
                try
                {
                    process(item);
                    done++;
                    outcome = ItemOutcome.Done;
                }
                catch (TesseraUserException e)
                {
                    failed[name(item)] = e.Message;
                    outcome = ItemOutcome.Failed;
                }
            }
            progress?.Invoke(++handled, outcome);
        }
        var summary = new ShardSummary
        {
            Shard = shard.ToString(),
            Assigned = mine.Count,
            Done = done,
            Skipped = skipped,
            Failed = failed,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        };
        if (summaryPath is not null) summary.Save(summaryPath);
        return summary;
    }
}
