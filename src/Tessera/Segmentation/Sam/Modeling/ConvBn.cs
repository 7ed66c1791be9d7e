using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's <c>Conv2d_BN</c>: a convolution without bias followed by batch normalisation
/// (Ioffe &amp; Szegedy 2015, eq. 1: y = γ·(x − μ)/√(σ² + ε) + β, with the running statistics in evaluation).
/// Children <c>c</c> and <c>bn</c> as in the official checkpoints.
/// </summary>
public sealed class ConvBn : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d c;
    private readonly BatchNorm2d bn;

    /// <summary>Creates a <paramref name="kernel"/>-sized convolution <paramref name="inChannels"/> → <paramref name="outChannels"/>.</summary>
    public ConvBn(int inChannels, int outChannels, int kernel = 1, int stride = 1, int padding = 0, int groups = 1) : base(nameof(ConvBn))
    {
        c = Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, groups: groups, bias: false);
        bn = BatchNorm2d(outChannels, eps: 1e-5);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var y = c.forward(x);
        return bn.forward(y);
    }
}
