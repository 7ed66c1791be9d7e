using Tessera.Layers;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// A convolution followed by BatchNorm, run in inference as one convolution with BatchNorm folded into its weights
/// (Ioffe and Szegedy 2015, eq. of Algorithm 2 at inference: BN(z) = γ (z − μ) / √(σ² + ε) + β, so with
/// s = γ / √(σ² + ε), BN(W ∗ x + b) = (s·W) ∗ x + s (b − μ) + β). The folded weights are a cache, not parameters:
/// they are built at the first pass in evaluation mode without gradients, and dropped by <see cref="Clear"/> and
/// by any pass in training mode or with gradients enabled (which is how weights change), so they never reach a
/// checkpoint or an optimiser. Training and passes with gradients run the two modules as they are.
/// </summary>
public sealed class FoldedConvBatchNorm : IDisposable
{
    private readonly Conv2d _conv;
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _bn;
    private torch.Tensor? _weight, _bias;
    private IntPtr _source;

    /// <summary>
    /// Pairs <paramref name="conv"/> with the batch norm <paramref name="bn"/> that follows it (a BatchNorm2d or a
    /// <see cref="SyncBatchNorm2d"/>, <see cref="BatchNorms"/>; both stay owned by their module).
    /// </summary>
    public FoldedConvBatchNorm(Conv2d conv, torch.nn.Module<torch.Tensor, torch.Tensor> bn)
    {
        BatchNorms.Statistics(bn);
        (_conv, _bn) = (conv, bn);
    }

    /// <summary>Whether a pass now may use folded weights: both modules in evaluation mode and gradients off.</summary>
    public bool Active => !_conv.training && !_bn.training && !torch.is_grad_enabled()
        && BatchNorms.Statistics(_bn) is { Mean: not null, Var: not null } && _conv.padding is not null && _conv.padding_mode == PaddingModes.Zeros;

    /// <summary>BN(conv(x)): folded when <see cref="Active"/>, else the two modules.</summary>
    public torch.Tensor Forward(torch.Tensor x)
    {
        if (!Active)
        {
            Clear();
            return _bn.forward(PointwiseConvolution.Forward(_conv, x));
        }
        var w = _conv.weight!;
        // A module moved to another device or dtype has new tensors: fold again.
        if (_weight is null || _source != w.Handle) Fold();
        return PointwiseConvolution.Conv2d(x, _weight!, _bias, _conv.stride, _conv.padding!, _conv.dilation, _conv.groups);
    }

    private void Fold()
    {
        Clear();
        using var scope = torch.NewDisposeScope();
        var w = _conv.weight!;
        // Folded in float32 at least (issue 28: a bfloat16/float16 network gets its folded weights rounded once).
        var type = w.dtype is torch.ScalarType.BFloat16 or torch.ScalarType.Float16 ? torch.ScalarType.Float32 : w.dtype;
        var (mean, variance, gamma, beta, eps) = BatchNorms.Statistics(_bn);
        var scale = variance!.to(type).add(eps).rsqrt_();
        if (gamma is not null) scale.mul_(gamma.to(type));
        var shift = _conv.bias is { } b ? b.to(type).sub(mean!.to(type)) : mean!.to(type).neg();
        shift.mul_(scale);
        if (beta is not null) shift.add_(beta.to(type));
        // Detached from every dispose scope: the cache outlives the pass that builds it.
        _weight = w.to(type).mul(scale.reshape(-1, 1, 1, 1)).to(w.dtype).DetachFromDisposeScope();
        _bias = shift.to(w.dtype).DetachFromDisposeScope();
        _source = w.Handle;
    }

    /// <summary>Drops the folded weights.</summary>
    public void Clear()
    {
        _weight?.Dispose();
        _bias?.Dispose();
        (_weight, _bias, _source) = (null, null, IntPtr.Zero);
    }

    /// <summary>Drops the folded weights (the modules are not disposed).</summary>
    public void Dispose() => Clear();
}
