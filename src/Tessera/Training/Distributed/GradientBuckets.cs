using System.Diagnostics;

namespace Tessera.Training.Distributed;

/// <summary>
/// Sums the parameters' gradients over the ranks after the backward pass, in buckets of about
/// <see cref="BucketBytes"/>: each bucket's gradients are flattened into one buffer, all-reduced, and copied back, so
/// a model of many small tensors costs few collectives. A parameter with no gradient on some rank counts as zero
/// there; one with no gradient on any rank keeps none (the optimiser skips it, as in one process).
/// TorchSharp 0.107 has no tensor or module backward hooks (only forward hooks), so buckets cannot start while the
/// backward pass is still running as PyTorch's DistributedDataParallel does; the reduction follows it.
/// </summary>
internal sealed class GradientBuckets
{
    /// <summary>The default bucket size (4 MiB).</summary>
    public const long DefaultBucketBytes = 4L << 20;

    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
    private readonly List<int[]> _buckets = [];
    private readonly Stopwatch _watch = new();

    /// <summary>Bucket size in bytes.</summary>
    public long BucketBytes { get; }

    /// <summary>Number of buckets.</summary>
    public int Count => _buckets.Count;

    /// <summary>Time spent in the reductions so far (the gradient all-reduces, with flattening and copying back).</summary>
    public TimeSpan Elapsed => _watch.Elapsed;

    /// <summary>Groups <paramref name="parameters"/> (in order, one element type and device per bucket) into buckets of about <paramref name="bucketBytes"/>.</summary>
    public GradientBuckets(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, long bucketBytes = DefaultBucketBytes)
    {
        _parameters = parameters;
        BucketBytes = bucketBytes;
        var current = new List<int>();
        long bytes = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            long size = p.numel() * p.element_size();
            if (current.Count > 0 && (bytes + size > bucketBytes || p.dtype != parameters[current[0]].dtype || p.device != parameters[current[0]].device))
            {
                _buckets.Add([.. current]);
                current.Clear();
                bytes = 0;
            }
            current.Add(i);
            bytes += size;
        }
        if (current.Count > 0) _buckets.Add([.. current]);
    }

    /// <summary>Sums every gradient over the ranks of <paramref name="communicator"/> and multiplies it by <paramref name="scale"/>.</summary>
    public void AllReduce(ICommunicator communicator, double scale = 1)
    {
        if (communicator.Size == 1) return;
        _watch.Start();
        try
        {
            // Which parameters have a gradient on any rank.
            var present = new long[_parameters.Count];
            for (int i = 0; i < present.Length; i++) present[i] = _parameters[i].grad is null ? 0 : 1;
            communicator.AllReduce(present.AsSpan(), ReduceOp.Max);
            using var scope = torch.NewDisposeScope();
            foreach (var bucket in _buckets)
            {
                var members = bucket.Where(i => present[i] != 0).ToArray();
                if (members.Length == 0) continue;
                var flat = torch.cat(members.Select(i => _parameters[i].grad is { } g ? g.flatten() : torch.zeros(_parameters[i].numel(), _parameters[i].dtype, _parameters[i].device)).ToArray());
                communicator.AllReduce(flat, ReduceOp.Sum);
                if (scale != 1) flat.mul_(scale);
                long offset = 0;
                using (torch.no_grad())
                    foreach (int i in members)
                    {
                        var p = _parameters[i];
                        long n = p.numel();
                        var slice = flat.narrow(0, offset, n).view(p.shape);
                        if (p.grad is { } g) g.copy_(slice);
                        else p.grad = slice.clone().DetachFromDisposeScope();
                        offset += n;
                    }
            }
        }
        finally
        {
            _watch.Stop();
        }
    }
}
