using System.Threading.Channels;

namespace Tessera.Data;

/// <summary>One mini-batch. It owns its tensors: dispose it (a <c>using</c>) when the step is done.</summary>
public sealed class Batch : IDisposable
{
    /// <summary>Inputs, [B, ...].</summary>
    public torch.Tensor Inputs { get; }

    /// <summary>Targets, [B, ...], or null for unlabelled data.</summary>
    public torch.Tensor? Targets { get; }

    /// <summary>Dataset indices of the rows, in batch order.</summary>
    public long[] Indices { get; }

    internal Batch(torch.Tensor inputs, torch.Tensor? targets, long[] indices)
    {
        Inputs = inputs;
        Targets = targets;
        Indices = indices;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Inputs.Dispose();
        Targets?.Dispose();
    }
}

/// <summary>Options for <see cref="Batcher"/>.</summary>
/// <param name="BatchSize">Rows per batch.</param>
/// <param name="Shuffle">Shuffle each epoch (seeded).</param>
/// <param name="Seed">Seed of the shuffles; epoch e uses a stream derived from (Seed, e), so any epoch can be replayed alone.</param>
/// <param name="DropLast">Drop a final batch smaller than <paramref name="BatchSize"/>.</param>
/// <param name="Prefetch">Batches prepared ahead on a background thread; 0 builds them on the caller's thread.</param>
public sealed record BatcherOptions(int BatchSize, bool Shuffle = true, ulong Seed = 0, bool DropLast = false, int Prefetch = 2);

/// <summary>
/// Cuts tensors that share their first dimension into mini-batches, shuffled with a seeded,
/// platform-independent permutation, and prepared ahead of time on a background thread.
/// Batches are created on <see cref="Device"/>.
/// </summary>
public sealed class Batcher
{
    private readonly torch.Tensor _inputs;
    private readonly torch.Tensor? _targets;

    /// <summary>The options.</summary>
    public BatcherOptions Options { get; }

    /// <summary>Where batches are placed.</summary>
    public torch.Device Device { get; }

    /// <summary>Creates a batcher over <paramref name="inputs"/> (and <paramref name="targets"/>, same length). The tensors are not copied or owned.</summary>
    public Batcher(torch.Tensor inputs, torch.Tensor? targets, BatcherOptions options, torch.Device? device = null)
    {
        if (options.BatchSize < 1) throw new TesseraUserException(nameof(options), "BatchSize must be at least 1");
        if (options.Prefetch < 0) throw new TesseraUserException(nameof(options), "Prefetch cannot be negative");
        if (targets is not null && targets.shape[0] != inputs.shape[0])
            throw new TesseraUserException(nameof(targets), $"inputs have {inputs.shape[0]} rows but targets {targets.shape[0]}");
        _inputs = inputs;
        _targets = targets;
        Options = options;
        Device = device ?? inputs.device;
    }

    /// <summary>Rows in the data.</summary>
    public long Count => _inputs.shape[0];

    /// <summary>Batches per epoch.</summary>
    public long BatchesPerEpoch => Options.DropLast ? Count / Options.BatchSize : (Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The order in which epoch <paramref name="epoch"/> visits the rows.</summary>
    public long[] Order(long epoch)
    {
        if (!Options.Shuffle)
        {
            var identity = new long[Count];
            for (long i = 0; i < Count; i++) identity[i] = i;
            return identity;
        }
        var mixer = new SplitMix64(Options.Seed ^ (0xD1B54A32D192ED03UL * (ulong)(epoch + 1)));
        return new SplitMix64(mixer.Next()).Permutation(Count);
    }

    /// <summary>The batches of one epoch, in order.</summary>
    public IEnumerable<Batch> Epoch(long epoch, CancellationToken cancellation = default)
    {
        long[] order = Order(epoch);
        IEnumerable<long[]> chunks = Chunks(order);
        if (Options.Prefetch == 0)
        {
            foreach (long[] rows in chunks)
            {
                cancellation.ThrowIfCancellationRequested();
                yield return Make(rows);
            }
            yield break;
        }

        var channel = Channel.CreateBounded<Batch>(new BoundedChannelOptions(Options.Prefetch) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        Task producer = Task.Run(async () =>
        {
            try
            {
                foreach (long[] rows in chunks)
                {
                    Batch batch = Make(rows);
                    try { await channel.Writer.WriteAsync(batch, stop.Token).ConfigureAwait(false); }
                    catch { batch.Dispose(); throw; }
                }
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            while (true)
            {
                Batch? next = null;
                try
                {
                    if (!channel.Reader.WaitToReadAsync(cancellation).AsTask().GetAwaiter().GetResult()) break;
                    if (!channel.Reader.TryRead(out next)) continue;
                }
                catch (ChannelClosedException e) when (e.InnerException is not null)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                }
                yield return next;
            }
        }
        finally
        {
            // The consumer stopped early (or failed): stop the producer and free what it made.
            stop.Cancel();
            try { producer.GetAwaiter().GetResult(); } catch (OperationCanceledException) { }
            while (channel.Reader.TryRead(out Batch? left)) left.Dispose();
        }
    }

    /// <summary>An endless stream of batches, epoch after epoch, starting at batch <paramref name="start"/> (for resuming).</summary>
    public IEnumerable<Batch> Forever(long start = 0, CancellationToken cancellation = default)
    {
        long perEpoch = BatchesPerEpoch;
        if (perEpoch == 0) throw new TesseraUserException("options", $"{Count} rows make no batch of {Options.BatchSize} with DropLast");
        long epoch = start / perEpoch, skip = start % perEpoch;
        while (true)
        {
            if (skip == 0)
            {
                foreach (Batch b in Epoch(epoch, cancellation)) yield return b;
            }
            else
            {
                // Rebuild the skipped epoch's remaining rows without materialising the skipped batches.
                long[] order = Order(epoch);
                foreach (long[] rows in Chunks(order).Skip((int)skip))
                    yield return Make(rows);
                skip = 0;
            }
            epoch++;
        }
    }

    private IEnumerable<long[]> Chunks(long[] order)
    {
        int b = Options.BatchSize;
        for (long start = 0; start < order.Length; start += b)
        {
            long len = Math.Min(b, order.Length - start);
            if (len < b && Options.DropLast) yield break;
            yield return order.AsSpan((int)start, (int)len).ToArray();
        }
    }

    private Batch Make(long[] rows)
    {
        using var index = torch.tensor(rows, device: _inputs.device);
        var x = _inputs.index_select(0, index);
        var y = _targets?.index_select(0, index.to(_targets.device));
        if (x.device != Device) { var moved = x.to(Device); x.Dispose(); x = moved; }
        if (y is not null && y.device != Device) { var moved = y.to(Device); y.Dispose(); y = moved; }
        return new Batch(x, y, rows);
    }
}
