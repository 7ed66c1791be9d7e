using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// One TinyViT stage (the official <c>ConvLayer</c> for stage 0, <c>BasicLayer</c> after it): its blocks, then
/// the patch merging into the next stage's width (none after the last stage). Children <c>blocks</c>,
/// <c>downsample</c>.
/// </summary>
public sealed class TinyVitStage : Module<torch.Tensor, torch.Tensor>
{
    private readonly ModuleList<Module<torch.Tensor, torch.Tensor>> blocks;
    private readonly PatchMerging? downsample;

    /// <summary>Creates stage <paramref name="index"/> of <paramref name="config"/> on a grid of side <paramref name="side"/>.</summary>
    public TinyVitStage(TinyVitConfig config, int index, int side) : base(nameof(TinyVitStage))
    {
        int dim = config.EmbedDims[index];
        blocks = new ModuleList<Module<torch.Tensor, torch.Tensor>>([.. Enumerable.Range(0, config.Depths[index]).Select(_ => index == 0
            ? (Module<torch.Tensor, torch.Tensor>)new MbConv(dim, config.MbConvExpandRatio)
            : new TinyVitBlock(dim, side, config.NumHeads[index], config.WindowSizes[index], config.MlpRatio, config.LocalConvSize))]);
        if (index < config.Stages - 1)
            downsample = new PatchMerging(side, dim, config.EmbedDims[index + 1], config.MergeStride(index));
        RegisterComponents();
    }

    /// <summary>The blocks, in order.</summary>
    public IReadOnlyList<Module<torch.Tensor, torch.Tensor>> Blocks => [.. blocks];

    /// <summary>The patch merging after the blocks, or null for the last stage.</summary>
    public PatchMerging? Downsample => downsample;

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var block in blocks) x = block.forward(x);
        if (downsample is not null) x = downsample.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
