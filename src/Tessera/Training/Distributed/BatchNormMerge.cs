namespace Tessera.Training.Distributed;

/// <summary>
/// Per-rank batch normalisation with one set of running statistics: each rank normalises with its own slice's
/// statistics (as one process does with one micro-batch each), and after the step the ranks' running means and
/// variances are combined into exactly what one process would hold after the same micro-batches in rank order.
/// One micro-batch updates r ← m·r + (1 − m)·s (m = 1 − momentum); A of them on rank k leave rₖ = m^A·r + dₖ, and the
/// R·A micro-batches in turn give m^{RA}·r + Σₖ m^{A(R−1−k)}·dₖ, so the ranks all-reduce m^{A(R−1−k)}·(rₖ − m^A·r).
/// </summary>
internal sealed class BatchNormMerge
{
    private readonly List<TorchSharp.Modules.BatchNorm> _norms;
    private readonly List<(torch.Tensor Mean, torch.Tensor Var, long Tracked)> _before = [];

    /// <summary>Finds the batch-norm layers (with running statistics) of <paramref name="model"/>.</summary>
    public BatchNormMerge(torch.nn.Module model)
    {
        _norms = [.. model.modules().OfType<TorchSharp.Modules.BatchNorm>().Where(b => b.running_mean is not null && b.running_var is not null)];
    }

    /// <summary>Whether the model has any.</summary>
    public bool Any => _norms.Count > 0;

    /// <summary>Remembers the running statistics before a step.</summary>
    public void Snapshot()
    {
        Release();
        foreach (var b in _norms)
            _before.Add((b.running_mean!.detach().clone(), b.running_var!.detach().clone(), b.num_batches_tracked is { } n ? n.item<long>() : 0));
    }

    /// <summary>Combines the ranks' statistics after a step of <paramref name="micros"/> micro-batches per rank.</summary>
    public void Merge(ICommunicator communicator, int micros)
    {
        if (communicator.Size == 1 || _norms.Count == 0) return;
        int ranks = communicator.Size, k = communicator.Rank;
        using var scope = torch.NewDisposeScope();
        var parts = new List<torch.Tensor>();
        var bases = new List<torch.Tensor>();
        for (int i = 0; i < _norms.Count; i++)
        {
            var b = _norms[i];
            // A null momentum (a cumulative average) is merged as momentum 0.1 would not be exact; treat it as the plain mean of the deltas.
            double m = 1 - (b.momentum ?? 0.1);
            double own = Math.Pow(m, micros), weight = Math.Pow(m, (double)micros * (ranks - 1 - k)), all = Math.Pow(m, (double)micros * ranks);
            var (mean, var, _) = _before[i];
            parts.Add(((b.running_mean!.to(torch.ScalarType.Float64) - own * mean.to(torch.ScalarType.Float64)) * weight).flatten());
            parts.Add(((b.running_var!.to(torch.ScalarType.Float64) - own * var.to(torch.ScalarType.Float64)) * weight).flatten());
            bases.Add((all * mean.to(torch.ScalarType.Float64)).flatten());
            bases.Add((all * var.to(torch.ScalarType.Float64)).flatten());
        }
        var flat = torch.cat(parts.ToArray()).cpu().contiguous();
        communicator.AllReduce(flat, ReduceOp.Sum);
        var merged = flat + torch.cat(bases.ToArray()).cpu();
        long offset = 0;
        using (torch.no_grad())
            for (int i = 0; i < _norms.Count; i++)
            {
                var b = _norms[i];
                foreach (var target in new[] { b.running_mean!, b.running_var! })
                {
                    long n = target.numel();
                    target.copy_(merged.narrow(0, offset, n).view(target.shape));
                    offset += n;
                }
                b.num_batches_tracked?.fill_(_before[i].Tracked + (long)micros * ranks);
            }
        Release();
    }

    private void Release()
    {
        foreach (var (mean, var, _) in _before)
        {
            mean.Dispose();
            var.Dispose();
        }
        _before.Clear();
    }
}
