using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>SAM 2's memory fuser (<c>Fuser</c>, Ravi et al. 2024, §4): a stack of <see cref="Sam2CxBlock"/> (keys <c>layers.{i}</c>).</summary>
public sealed class Sam2Fuser : Module<torch.Tensor, torch.Tensor>
{
    private readonly ModuleList<Sam2CxBlock> layers;

    /// <summary>Creates <paramref name="count"/> blocks of <paramref name="dim"/> channels.</summary>
    public Sam2Fuser(int dim, int count, int kernel) : base(nameof(Sam2Fuser))
    {
        layers = new ModuleList<Sam2CxBlock>([.. Enumerable.Range(0, count).Select(_ => new Sam2CxBlock(dim, kernel))]);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var layer in layers) x = layer.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
