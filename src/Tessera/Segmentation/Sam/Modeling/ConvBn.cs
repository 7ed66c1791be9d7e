using Tessera.Layers;
using Tessera.Segmentation.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's <c>Conv2d_BN</c>: a convolution without bias followed by batch normalisation
/// (Ioffe &amp; Szegedy 2015, eq. 1: y = γ·(x − μ)/√(σ² + ε) + β, with the running statistics in evaluation).
/// Children <c>c</c> and <c>bn</c> as in the official checkpoints. For inference at a lower precision
/// (<see cref="EncoderPrecision"/>) the normalisation is folded into the convolution once (<see cref="Fold"/>); in
/// float32 inference (evaluation mode, gradients off) it runs folded too, from a cache that training drops
/// (<see cref="FoldedConvBatchNorm"/>): one pass over the activations instead of two.
/// </summary>
public sealed class ConvBn : Module<torch.Tensor, torch.Tensor>
{
    private const double Eps = 1e-5;
    private readonly Conv2d c;
    private readonly BatchNorm2d bn;
    private readonly int _stride, _padding, _groups;
    private (torch.Tensor Weight, torch.Tensor Bias)? _folded;
    private readonly FoldedConvBatchNorm _inference;

    /// <summary>Creates a <paramref name="kernel"/>-sized convolution <paramref name="inChannels"/> → <paramref name="outChannels"/>.</summary>
    public ConvBn(int inChannels, int outChannels, int kernel = 1, int stride = 1, int padding = 0, int groups = 1) : base(nameof(ConvBn))
    {
        (_stride, _padding, _groups) = (stride, padding, groups);
        c = Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, groups: groups, bias: false);
        bn = BatchNorm2d(outChannels, eps: Eps);
        RegisterComponents();
        _inference = new FoldedConvBatchNorm(c, bn);
    }

    /// <summary>
    /// Folds the batch normalisation's running statistics into the convolution, in float32, and keeps the folded
    /// weight and bias rounded to <paramref name="type"/> (on the device the module is on now) for <see cref="forward"/>:
    /// W' = W·γ/√(σ² + ε), b' = β − μ·γ/√(σ² + ε), the same affine map as eq. 1 after the convolution. The state dict
    /// keeps the float32 tensors; the fold is for inference and cannot be undone.
    /// </summary>
    internal void Fold(torch.ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var f32 = torch.ScalarType.Float32;
        using var eps = Eps.ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
        var scale = bn.weight!.to(f32) / (bn.running_var!.to(f32) + eps).sqrt();
        var weight = (c.weight!.to(f32) * scale.view(-1, 1, 1, 1)).to(type);
        var bias = (bn.bias!.to(f32) - bn.running_mean!.to(f32) * scale).to(type);
        _folded = (weight.DetachFromDisposeScope(), bias.DetachFromDisposeScope());
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        if (_folded is { } f)
            return PointwiseConvolution.Conv2d(x, f.Weight, f.Bias, [_stride, _stride], [_padding, _padding], [1, 1], _groups);
        return _inference.Forward(x);
    }

    /// <summary>
    /// GELU(<see cref="forward"/>(x)) for MBConv's and the patch merging's expansions: in inference with the batch norm folded,
    /// a channels-last 1 × 1 convolution's bias is added in the GELU's pass (<see cref="ErfGelu"/>) rather than copied
    /// into the product's output first.
    /// </summary>
    internal torch.Tensor ForwardGelu(torch.Tensor x)
    {
        if (FoldedPointwise(x) is { } f)
            return ErfGelu.InPlace(PointwiseConvolution.Conv2d(x, f.Weight, null, [1, 1], [_padding, _padding], [1, 1], _groups), f.Bias, 1);
        return ErfGelu.Activation(forward(x));
    }

    /// <summary>
    /// <paramref name="residual"/> + <see cref="forward"/>(x) for MBConv's projection: in inference with the batch norm folded,
    /// a channels-last 1 × 1 convolution's product accumulates into residual + bias (<see cref="ResidualLinear"/>).
    /// </summary>
    internal torch.Tensor ForwardAdd(torch.Tensor x, torch.Tensor residual)
    {
        if (FoldedPointwise(x) is { } f)
            return ResidualLinear.Apply(residual, x, f.Weight, f.Bias, 1);
        return forward(x).add_(residual);
    }

    // The folded weights where this is a channels-last 1 × 1 convolution in inference (the product PointwiseConvolution
    // runs), whose bias another pass can take; null otherwise.
    private (torch.Tensor Weight, torch.Tensor Bias)? FoldedPointwise(torch.Tensor x) =>
        _folded is { } f && !x.requires_grad && _stride == 1 && PointwiseConvolution.Reroutes(x, f.Weight, [_padding, _padding], _groups) ? f : null;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _inference.Dispose();
        if (disposing && _folded is { } f)
        {
            f.Weight.Dispose();
            f.Bias.Dispose();
            _folded = null;
        }
        base.Dispose(disposing);
    }
}
