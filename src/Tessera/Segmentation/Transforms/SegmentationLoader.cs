using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>Settings of <see cref="SegmentationLoader"/>.</summary>
/// <param name="BatchSize">Samples per batch.</param>
/// <param name="Threads">Background threads that decode and augment (each builds whole batches).</param>
/// <param name="Prefetch">Batches that may be ready or in progress ahead of the consumer (the bounded queue; at least <paramref name="Threads"/>).</param>
/// <param name="Seed">Seed of the shuffles and the augmentation.</param>
/// <param name="Shuffle">Visit the samples in a new random order each epoch; false keeps list order.</param>
/// <param name="FirstStep">The first step to deliver (resume: the batches are those a run from step 0 would deliver from here).</param>
/// <param name="Steps">Batches to deliver up to (exclusive step bound); null: one pass over the data from <paramref name="FirstStep"/>, the last batch possibly smaller.</param>
public sealed record LoaderOptions(int BatchSize = 8, int Threads = 2, int Prefetch = 4, ulong Seed = 0, bool Shuffle = true, long FirstStep = 0, long? Steps = null);

/// <summary>
/// Decodes and augments samples on background threads into batches, in step order, through a bounded
/// queue: a thread claims a step only while fewer than <see cref="LoaderOptions.Prefetch"/> batches are
/// waiting or in progress. Sample k = step · batch + position is item π_e(k mod N) of epoch e = ⌊k / N⌋
/// (π_e a SplitMix64 permutation of the epoch's seed), augmented with (seed, step, position), so the
/// batches do not depend on the thread count and a resume at step s gives what an unbroken run gives.
/// Samples of different sizes in a batch are padded to the largest (image 0, label 255). Enumerate
/// once; dispose every batch.
/// </summary>
public sealed class SegmentationLoader : IEnumerable<SegmentationBatch>, IDisposable
{
    private readonly ISegmentationDataset _dataset;
    private readonly SegAugmentation _augmentation;
    private readonly LoaderOptions _options;
    private readonly long _end;
    private readonly Dictionary<long, long[]> _permutations = [];
    private readonly Dictionary<long, SegmentationBatch> _ready = [];
    private readonly object _gate = new();
    private readonly SemaphoreSlim _slots;
    private readonly List<Thread> _threads = [];
    private long _nextClaim;
    private Exception? _error;
    private volatile bool _stopped;
    private bool _started;

    /// <summary>Creates the loader; threads start on enumeration.</summary>
    public SegmentationLoader(ISegmentationDataset dataset, SegAugmentation augmentation, LoaderOptions options)
    {
        if (dataset.Count == 0) throw new TesseraUserException(nameof(dataset), "the dataset is empty");
        if (options.BatchSize < 1 || options.Threads < 1) throw new TesseraUserException(nameof(options), "batch size and threads must be at least 1");
        _dataset = dataset;
        _augmentation = augmentation;
        _options = options;
        _end = options.Steps ?? (dataset.Count + (long)options.BatchSize - 1) / options.BatchSize;
        _nextClaim = options.FirstStep;
        _slots = new SemaphoreSlim(Math.Max(options.Prefetch, options.Threads));
    }

    /// <summary>The dataset index of sample <paramref name="position"/> of step <paramref name="step"/>, or −1 past the end of a single pass.</summary>
    public int IndexOf(long step, int position)
    {
        long k = step * _options.BatchSize + position, n = _dataset.Count;
        if (_options.Steps is null && k >= n) return -1;
        long epoch = k / n, within = k % n;
        if (!_options.Shuffle) return (int)within;
        long[] perm;
        lock (_permutations)
        {
            if (!_permutations.TryGetValue(epoch, out perm!))
            {
                var rng = new SplitMix64(new SplitMix64(_options.Seed ^ 0xA5A5A5A5A5A5A5A5UL).Next() + (ulong)epoch * 0x9E3779B97F4A7C15UL);
                perm = rng.Permutation(n);
                _permutations[epoch] = perm;
                _permutations.Remove(epoch - 2);
            }
        }
        return (int)perm[within];
    }

    /// <summary>Builds the batch of <paramref name="step"/> on the calling thread.</summary>
    public SegmentationBatch Build(long step)
    {
        var samples = new List<NormalizedSample>();
        var indices = new List<int>();
        for (int p = 0; p < _options.BatchSize; p++)
        {
            int index = IndexOf(step, p);
            if (index < 0) break;
            indices.Add(index);
            samples.Add(_augmentation.Apply(_dataset.Load(index), _options.Seed, step, p));
        }
        int h = samples.Max(s => s.Height), w = samples.Max(s => s.Width), n = samples.Count;
        var images = torch.empty([n, 3, h, w], torch.ScalarType.Float32);
        var labels8 = new byte[n * h * w];
        Span<float> dst = MemoryMarshal.Cast<byte, float>(images.bytes);
        for (int i = 0; i < n; i++)
        {
            var s = samples[i];
            if (s.Width == w && s.Height == h)
            {
                s.Image.CopyTo(dst[(i * 3 * h * w)..]);
                s.Label.CopyTo(labels8, i * h * w);
            }
            else Pad.Write(s, dst.Slice(i * 3 * h * w, 3 * h * w), labels8.AsSpan(i * h * w, h * w), h, w);
        }
        using var l8 = torch.tensor(labels8, torch.ScalarType.Byte);
        var labels = l8.to(torch.ScalarType.Int64).reshape(n, h, w);
        return new SegmentationBatch(step, images, labels, [.. indices]);
    }

    /// <inheritdoc />
    public IEnumerator<SegmentationBatch> GetEnumerator()
    {
        if (_started) throw new InvalidOperationException("a SegmentationLoader is enumerated once");
        _started = true;
        for (int t = 0; t < _options.Threads; t++)
        {
            var thread = new Thread(Work) { IsBackground = true, Name = $"tessera-segdata-{t}" };
            _threads.Add(thread);
            thread.Start();
        }
        for (long step = _options.FirstStep; step < _end; step++)
        {
            SegmentationBatch? batch;
            lock (_gate)
            {
                while (!_ready.Remove(step, out batch))
                {
                    if (_error is not null) throw _error is TesseraUserException ? _error : new InvalidOperationException($"data loading failed at step {step}: {_error.Message}", _error);
                    Monitor.Wait(_gate);
                }
            }
            _slots.Release();
            yield return batch;
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private void Work()
    {
        while (!_stopped)
        {
            _slots.Wait();
            if (_stopped) return;
            long step = Interlocked.Increment(ref _nextClaim) - 1;
            if (step >= _end) { _slots.Release(); return; }
            try
            {
                SegmentationBatch batch = Build(step);
                lock (_gate)
                {
                    if (_stopped) batch.Dispose();
                    else _ready[step] = batch;
                    Monitor.PulseAll(_gate);
                }
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    _error ??= e;
                    _stopped = true;
                    Monitor.PulseAll(_gate);
                }
                return;
            }
        }
    }

    /// <summary>Stops the threads and disposes the batches not taken.</summary>
    public void Dispose()
    {
        _stopped = true;
        _slots.Release(_threads.Count + 1);
        foreach (var t in _threads) t.Join();
        lock (_gate)
        {
            foreach (var b in _ready.Values) b.Dispose();
            _ready.Clear();
        }
        _slots.Dispose();
    }
}
