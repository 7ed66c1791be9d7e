using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// MobileSAM's image encoder (Zhang et al. 2023, "Faster Segment Anything", §3: TinyViT distilled from SAM's
/// ViT-H): TinyViT (Wu et al. 2022) — a convolutional patch embedding to 1/4 resolution (two 3×3 stride-2
/// Conv-BN with GELU between), an MBConv stage, attention stages with local windows, patch merging between
/// stages — then SAM's neck (1×1 conv, LayerNorm2d, 3×3 conv, LayerNorm2d) to the prompt width. The
/// classifier head (<c>norm_head</c>, <c>head</c>) is in the released checkpoints and kept, but never run.
/// Parameter names are those of the official <c>tiny_vit_sam.py</c>.
/// </summary>
public sealed class TinyVitEncoder : SamImageEncoder, IConvertibleEncoder
{
    private readonly Sequential patch_embed;
    private readonly ModuleList<TinyVitStage> layers;
    private readonly LayerNorm norm_head;
    private readonly Linear? head;
    private readonly Sequential neck;
    private readonly int _grid;

    /// <summary>The encoder's sizes.</summary>
    public TinyVitConfig Config { get; }

    /// <inheritdoc />
    public override string Family => "tiny_vit";

    /// <summary>Builds the encoder of <paramref name="config"/> (whose <see cref="SamConfig.TinyVit"/> is set).</summary>
    public TinyVitEncoder(SamConfig config) : base(nameof(TinyVitEncoder))
    {
        Config = config.TinyVit ?? throw new ArgumentException("the configuration has no TinyViT encoder", nameof(config));
        var c = Config;
        _grid = config.EmbeddingSize;
        int dim0 = c.EmbedDims[0];
        patch_embed = Sequential(("seq", Sequential(
            ("0", new ConvBn(3, dim0 / 2, 3, 2, 1)),
            ("1", GELU()),
            ("2", new ConvBn(dim0 / 2, dim0, 3, 2, 1)))));
        var sides = c.Resolutions(config.ImageSize);
        layers = new ModuleList<TinyVitStage>([.. Enumerable.Range(0, c.Stages).Select(i => new TinyVitStage(c, i, sides[i]))]);
        int last = c.EmbedDims[^1];
        norm_head = LayerNorm(last);
        if (c.NumClasses > 0) head = Linear(last, c.NumClasses);
        neck = Neck(last, config.PromptDim);
        RegisterComponents();
    }

    /// <summary>The stages, in order.</summary>
    public IReadOnlyList<TinyVitStage> Stages => [.. layers];

    /// <summary>
    /// The forward pass with its intermediates, named as the parity fixtures name them: <c>patch_embed</c>
    /// [B, C₀, L/4, L/4]; <c>layer{i}/block{k}</c> and <c>layer{i}</c> (maps for stage 0's blocks, tokens
    /// [B, H·W, C] after); <c>neck</c> (the image embedding).
    /// </summary>
    public IReadOnlyList<(string Name, torch.Tensor Value)> Trace(torch.Tensor image)
    {
        var trace = new List<(string, torch.Tensor)>();
        var x = PatchEmbed(image.to(((IConvertibleEncoder)this).ComputeType));
        trace.Add(("patch_embed", x));
        for (int i = 0; i < layers.Count; i++)
        {
            var stage = layers[i];
            for (int k = 0; k < stage.Blocks.Count; k++)
            {
                x = stage.Blocks[k].forward(x);
                trace.Add(($"layer{i}/block{k}", x));
            }
            if (stage.Downsample is not null) x = stage.Downsample.forward(x);
            trace.Add(($"layer{i}", x));
        }
        trace.Add(("neck", RunNeck(neck, Grid(x))));
        return trace;
    }

    // The stem, conv → GELU → conv, with the GELU in place in inference (ErfGelu: a 32 MiB map at 1024²).
    private torch.Tensor PatchEmbed(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var seq = patch_embed.children().Cast<Sequential>().Single().children().ToList();
        var x = ErfGelu.Activation(((ConvBn)seq[0]).forward(image));
        return ((ConvBn)seq[2]).forward(x).MoveToOuterDisposeScope();
    }

    // Final tokens [B, g·g, C] as a map [B, C, g, g].
    private torch.Tensor Grid(torch.Tensor tokens) => tokens.view(tokens.shape[0], _grid, _grid, -1).permute(0, 3, 1, 2);

    // The neck's first convolution is converted with the rest (EncoderPrecision), so its type is the products' type.
    torch.ScalarType IConvertibleEncoder.ComputeType => EncoderPrecision.WeightType(neck.children().First());

    // Batch norms folded into their convolutions in float32, then rounded (ConvBn.Fold); linear layers and layer norms
    // converted; the attention biases (held by TinyVitAttention itself, not a layer) stay float32; the neck's convolutions.
    void IConvertibleEncoder.ConvertWeights(torch.ScalarType type)
    {
        foreach (var module in patch_embed.modules().Concat(layers.modules()).ToList())
        {
            if (module is ConvBn convBn) convBn.Fold(type);
            else if (module is TorchSharp.Modules.Linear or TorchSharp.Modules.LayerNorm) module.to(type);
        }
        ConvertNeck(neck, type);
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        // Channels-last from the start: oneDNN's depthwise convolutions of stage 0 take NHWC 2.6× faster than NCHW, and
        // the later stages' token maps are NHWC already.
        var x = PatchEmbed(MemoryFormat.ChannelsLast(image.to(((IConvertibleEncoder)this).ComputeType)));
        foreach (var stage in layers)
        {
            using var stageScope = torch.NewDisposeScope();
            x = stage.forward(x).MoveToOuterDisposeScope();
        }
        return RunNeck(neck, Grid(x)).MoveToOuterDisposeScope();
    }
}
