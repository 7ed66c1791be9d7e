using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>Boundary Refinement (Peng et al. 2017, Fig. 2C): S̃ = S + conv3×3(ReLU(conv3×3(S))).</summary>
public sealed class BoundaryRefinement : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d conv1, conv2;

    /// <summary>Creates the block for <paramref name="channels"/> score maps.</summary>
    public BoundaryRefinement(int channels) : base(nameof(BoundaryRefinement))
    {
        conv1 = Conv2d(channels, channels, 3, padding: 1);
        conv2 = Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor s)
    {
        using var scope = torch.NewDisposeScope();
        return (s + conv2.forward(functional.relu(conv1.forward(s)))).MoveToOuterDisposeScope();
    }
}
