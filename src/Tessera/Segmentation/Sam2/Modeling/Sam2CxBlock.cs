using Tessera.Layers;
using Tessera.Segmentation.Sam.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// The ConvNeXt block of SAM 2's memory fuser (Liu et al. 2022, "A ConvNet for the 2020s", Fig. 4; SAM 2's
/// <c>CXBlock</c>): x + γ ⊙ W₂ GELU(W₁ LN(DWConv(x))), the pointwise layers as linear maps over channels-last tokens.
/// </summary>
public sealed class Sam2CxBlock : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d dwconv;
    private readonly LayerNorm2d norm;
    private readonly Linear pwconv1, pwconv2;
    private readonly Parameter gamma;

    /// <summary>Creates a block of <paramref name="dim"/> channels with a depthwise <paramref name="kernel"/> × kernel convolution.</summary>
    public Sam2CxBlock(int dim, int kernel) : base(nameof(Sam2CxBlock))
    {
        dwconv = Conv2d(dim, dim, kernel, padding: kernel / 2, groups: dim);
        norm = new LayerNorm2d(dim, 1e-6);
        pwconv1 = Linear(dim, 4 * dim);
        pwconv2 = Linear(4 * dim, dim);
        gamma = new Parameter(torch.full(dim, 1e-6f));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var y = norm.forward(dwconv.forward(x)).permute(0, 2, 3, 1);
        y = pwconv2.forward(ErfGelu.Activation(pwconv1.forward(y)));
        return (x + (gamma * y).permute(0, 3, 1, 2)).MoveToOuterDisposeScope();
    }
}
