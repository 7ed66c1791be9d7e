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
        return fc2.forward(functional.gelu(fc1.forward(norm.forward(x)))).MoveToOuterDisposeScope();
    }
}
