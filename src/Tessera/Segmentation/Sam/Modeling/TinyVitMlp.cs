using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>TinyViT's MLP: LayerNorm, Linear, GELU, Linear (children <c>norm</c>, <c>fc1</c>, <c>fc2</c>).</summary>
public sealed class TinyVitMlp : Module<torch.Tensor, torch.Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear fc1, fc2;

    /// <summary>Creates the MLP <paramref name="dim"/> → <paramref name="hidden"/> → <paramref name="dim"/>.</summary>
    public TinyVitMlp(int dim, int hidden) : base(nameof(TinyVitMlp))
    {
        norm = LayerNorm(dim);
        fc1 = Linear(dim, hidden);
        fc2 = Linear(hidden, dim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return fc2.forward(Hidden(x)).MoveToOuterDisposeScope();
    }

    /// <summary>x + MLP(x), the block's second residual: in inference fc2's product accumulates into x + b₂ (<see cref="ResidualLinear"/>).</summary>
    internal torch.Tensor Residual(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return ResidualLinear.Apply(x, Hidden(x), fc2.weight!, fc2.bias, -1).MoveToOuterDisposeScope();
    }

    // GELU(fc1(LN(x))); in inference fc1's bias is added in the GELU's pass (ErfGelu): libtorch's linear copies it into
    // the output first.
    private torch.Tensor Hidden(torch.Tensor x)
    {
        var h = norm.forward(x);
        return fc1.bias is { } b1 && NoGradient.For(h, fc1.weight, b1)
            ? ErfGelu.InPlace(functional.linear(h, fc1.weight!), b1, -1)
            : ErfGelu.Activation(fc1.forward(h));
    }
}
