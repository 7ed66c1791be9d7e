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
public sealed record LoaderOptions(int BatchSize = 8, int Threads = 2, int Prefetch = 4, ulong Seed = 0, bool Shuffle = true, long FirstStep = 0, long? Steps = null)
{
    /// <summary>Equal parts each batch is cut into (micro-batches of a step over all ranks); <see cref="BatchSize"/> must be a multiple of it.</summary>
    public int Parts { get; init; } = 1;

    /// <summary>The first part of each batch this loader delivers (data parallel: rank · micro-batches per rank).</summary>
    public int FirstPart { get; init; }

    /// <summary>Consecutive parts of each batch this loader delivers, from <see cref="FirstPart"/> (0: through the last part).</summary>
    public int PartCount { get; init; }
}

/// <summary>
/// Decodes and augments samples on background threads into batches, in step order, through a bounded
/// queue: a thread claims a step only while fewer than <see cref="LoaderOptions.Prefetch"/> batches are
/// waiting or in progress. Sample k = step · batch + position is item π_e(k mod N) of epoch e = ⌊k / N⌋
/// (π_e a SplitMix64 permutation of the epoch's seed), augmented with (seed, step, position), so the
/// batches do not depend on the thread count and a resume at step s gives what an unbroken run gives.
/// Samples of different sizes in a batch are padded to the largest (image 0, label 255). Enumerate
/// once; dispose every batch.
/// With <see cref="LoaderOptions.Parts"/> P, each batch is delivered as parts of BatchSize/P consecutive positions (part j:
/// positions j·BatchSize/P …), each sample still augmented with its (seed, step, position), so the parts a set of ranks
/// take (<see cref="LoaderOptions.FirstPart"/>, <see cref="LoaderOptions.PartCount"/>) together are exactly the whole batch.
/// </summary>
public sealed class SegmentationLoader : IEnumerable<SegmentationBatch>, IDisposable
{
    private readonly ISegmentationDataset _dataset;
    private readonly SegAugmentation _augmentation;
    private readonly LoaderOptions _options;
    private readonly long _end;
    private readonly int _partSize, _firstPart, _partCount;
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
        if (options.Parts < 1 || options.BatchSize % options.Parts != 0 || options.FirstPart < 0 || options.PartCount < 0 || options.FirstPart + options.PartCount > options.Parts || options.FirstPart >= options.Parts)
            throw new ArgumentOutOfRangeException(nameof(options), $"parts {options.FirstPart} + {options.PartCount} of {options.Parts} do not cut a batch of {options.BatchSize} into equal parts");
        if (options.Parts > 1 && options.Steps is null) throw new ArgumentOutOfRangeException(nameof(options), "a batch is cut into parts only for a fixed number of steps (a single pass may end in a short batch)");
        _dataset = dataset;
        _augmentation = augmentation;
        _options = options;
        _end = options.Steps ?? (dataset.Count + (long)options.BatchSize - 1) / options.BatchSize;
        _partSize = options.BatchSize / options.Parts;
        _firstPart = options.FirstPart;
        _partCount = options.PartCount == 0 ? options.Parts - options.FirstPart : options.PartCount;
        _nextClaim = options.FirstStep * _partCount;
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

    /// <summary>Builds the batch of <paramref name="step"/> on the calling thread (all its parts).</summary>
    public SegmentationBatch Build(long step) => Build(step, 0, _options.BatchSize);

    /// <summary>Builds positions <paramref name="first"/> … <paramref name="first"/> + <paramref name="count"/> − 1 of the batch of <paramref name="step"/>.</summary>
    private SegmentationBatch Build(long step, int first, int count, int part = 0)
    {
        var samples = new List<NormalizedSample>();
        var indices = new List<int>();
        for (int p = first; p < first + count; p++)
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
        return new SegmentationBatch(step, images, labels, [.. indices]) { Part = part };
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
        for (long item = _options.FirstStep * _partCount; item < _end * _partCount; item++)
        {
            SegmentationBatch? batch;
            lock (_gate)
            {
                while (!_ready.Remove(item, out batch))
                {
                    if (_error is not null) throw _error is TesseraUserException ? _error : new InvalidOperationException($"data loading failed at step {item / _partCount}: {_error.Message}", _error);
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
            // Item t is part FirstPart + t mod PartCount of step t div PartCount.
            long item = Interlocked.Increment(ref _nextClaim) - 1;
            if (item >= _end * _partCount) { _slots.Release(); return; }
            try
            {
                int part = _firstPart + (int)(item % _partCount);
                SegmentationBatch batch = Build(item / _partCount, part * _partSize, _partSize, part);
                lock (_gate)
                {
                    if (_stopped) batch.Dispose();
                    else _ready[item] = batch;
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
