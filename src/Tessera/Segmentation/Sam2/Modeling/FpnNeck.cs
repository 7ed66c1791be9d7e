using Tessera.Segmentation.Sam.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's neck (Ravi et al. 2024, §4 "Image encoder"; the official <c>image_encoder.FpnNeck</c>): a feature pyramid
/// (Lin et al. 2017, FPN, §3) without output convolutions. Each trunk level gets a 1×1 lateral convolution to
/// <c>d_model</c>; from the lowest resolution up, a level listed in the top-down levels adds the nearest-neighbour ×2
/// upsampling of the level below it, Pᵢ = Lᵢ + Up₂(Pᵢ₊₁), the others keep Pᵢ = Lᵢ (SAM 2: top-down at levels 2 and 3
/// only). Every output gets the <see cref="PositionEmbeddingSine"/> of its size. Keys <c>convs.{j}.conv</c>, j = 0 for
/// the lowest resolution (the official order).
/// </summary>
public sealed class FpnNeck : Module<IReadOnlyList<torch.Tensor>, (IReadOnlyList<torch.Tensor> Features, IReadOnlyList<torch.Tensor> Positions)>
{
    private readonly ModuleList<Sequential> convs;
    private readonly PositionEmbeddingSine position_encoding;
    private readonly HashSet<int> _topDown;

    /// <summary>The output width.</summary>
    public int DModel { get; }

    /// <summary>The trunk channels it expects, lowest resolution first (the official <c>backbone_channel_list</c>).</summary>
    public int[] BackboneChannelList { get; }

    /// <summary>The levels (0 = highest resolution) that receive the top-down path.</summary>
    public int[] TopDownLevels { get; }

    /// <summary>The position encoding of the outputs.</summary>
    public PositionEmbeddingSine PositionEncoding => position_encoding;

    /// <summary>Creates the neck from trunk levels of <paramref name="backboneChannelList"/> channels (lowest resolution first) to <paramref name="dModel"/>.</summary>
    public FpnNeck(int dModel, int[] backboneChannelList, int[] topDownLevels) : base(nameof(FpnNeck))
    {
        DModel = dModel;
        BackboneChannelList = backboneChannelList;
        TopDownLevels = topDownLevels;
        _topDown = [.. topDownLevels];
        convs = new ModuleList<Sequential>([.. backboneChannelList.Select(c => Sequential(("conv", Conv2d(c, dModel, 1))))]);
        position_encoding = new PositionEmbeddingSine(dModel);
        RegisterComponents();
    }

    /// <summary>Converts the lateral convolutions to <paramref name="type"/> (<see cref="EncoderPrecision"/>).</summary>
    internal void ConvertWeights(torch.ScalarType type) => convs.to(type);

    /// <summary>
    /// The pyramid of the trunk's levels [B, Cᵢ, Hᵢ, Wᵢ] (highest resolution first): the outputs [B, d_model, Hᵢ, Wᵢ] and their
    /// position encodings, in the same order.
    /// </summary>
    public override (IReadOnlyList<torch.Tensor> Features, IReadOnlyList<torch.Tensor> Positions) forward(IReadOnlyList<torch.Tensor> xs)
    {
        if (xs.Count != convs.Count) throw new ArgumentException($"the neck takes {convs.Count} trunk levels, got {xs.Count}", nameof(xs));
        using var scope = torch.NewDisposeScope();
        var features = new torch.Tensor[xs.Count];
        var positions = new torch.Tensor[xs.Count];
        int n = xs.Count - 1;
        torch.Tensor? previous = null;
        for (int i = n; i >= 0; i--)
        {
            // Issue 28 (EncoderPrecision): a converted lateral convolution runs in its weights' type and its output is
            // widened to float32, where the top-down sums and the position encodings are computed.
            var conv = convs[n - i];
            var type = EncoderPrecision.WeightType(conv);
            var lateral = conv.forward(xs[i].to(type));
            if (type is torch.ScalarType.BFloat16 or torch.ScalarType.Float16) lateral = lateral.to(torch.ScalarType.Float32);
            // Pᵢ = Lᵢ + Up₂(Pᵢ₊₁) at top-down levels (upsampled in float32 as the official code), else Pᵢ = Lᵢ
            previous = previous is not null && _topDown.Contains(i)
                ? lateral + functional.interpolate(previous.to(torch.ScalarType.Float32), scale_factor: [2.0, 2.0], mode: torch.InterpolationMode.Nearest)
                : lateral;
            features[i] = previous;
            positions[i] = position_encoding.forward(previous);
        }
        foreach (var t in features.Concat(positions)) t.MoveToOuterDisposeScope();
        return (features, positions);
    }
}
