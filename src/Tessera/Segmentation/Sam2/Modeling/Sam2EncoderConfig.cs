namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// The sizes of SAM 2's image encoder (Ravi et al. 2024, §4; the official <c>ImageEncoder</c> of
/// <c>sam2.1_hiera_*.yaml</c>): a <see cref="HieraConfig"/> trunk, an <see cref="FpnNeck"/> to <paramref name="DModel"/>
/// channels with top-down fusion at <paramref name="TopDownLevels"/>, and the scalp (lowest-resolution levels
/// dropped from the output). <see cref="Tiny"/> … <see cref="Large"/> are the released ones; <see cref="FromWeights"/>
/// reads any size from a checkpoint.
/// </summary>
/// <param name="Trunk">The Hiera trunk.</param>
/// <param name="DModel">The neck's width, the hidden width of the whole model (256).</param>
/// <param name="TopDownLevels">Pyramid levels (0 = highest resolution) with the top-down path ([2, 3]).</param>
/// <param name="Scalp">Lowest-resolution levels discarded after the neck (1).</param>
public sealed record Sam2EncoderConfig(HieraConfig Trunk, int DModel = 256, int[]? TopDownLevels = null, int Scalp = 1)
{
    /// <summary>The pyramid levels with the top-down path (default [2, 3], as every released configuration).</summary>
    public int[] TopDownLevels { get; init; } = TopDownLevels ?? [2, 3];

    /// <summary>SAM 2 / 2.1 Hiera-T (<c>sam2.1_hiera_t.yaml</c>).</summary>
    public static Sam2EncoderConfig Tiny { get; } = new(HieraConfig.Tiny);

    /// <summary>SAM 2 / 2.1 Hiera-S.</summary>
    public static Sam2EncoderConfig Small { get; } = new(HieraConfig.Small);

    /// <summary>SAM 2 / 2.1 Hiera-B+.</summary>
    public static Sam2EncoderConfig BasePlus { get; } = new(HieraConfig.BasePlus);

    /// <summary>SAM 2 / 2.1 Hiera-L.</summary>
    public static Sam2EncoderConfig Large { get; } = new(HieraConfig.Large);

    /// <summary>The neck's input channels, lowest resolution first (the official <c>backbone_channel_list</c>).</summary>
    public int[] BackboneChannelList => [.. Trunk.StageDims.Reverse()];

    /// <summary>Whether both describe the same encoder.</summary>
    public bool SameAs(Sam2EncoderConfig other) =>
        Trunk.SameAs(other.Trunk) && DModel == other.DModel && TopDownLevels.SequenceEqual(other.TopDownLevels) && Scalp == other.Scalp;

    /// <summary>Checks that the sizes fit together.</summary>
    /// <exception cref="ArgumentException">A size that cannot work (named in the message).</exception>
    public void Validate()
    {
        Trunk.Validate();
        if (DModel < 4 || DModel % 4 != 0) throw new ArgumentException($"SAM 2 neck width {DModel} must be a positive multiple of 4 (its sine position encoding)");
        if (Scalp < 0 || Scalp >= Trunk.Stages.Length) throw new ArgumentException($"SAM 2 scalp {Scalp} must leave at least one of {Trunk.Stages.Length} levels");
        if (TopDownLevels.Any(l => l < 0 || l >= Trunk.Stages.Length)) throw new ArgumentException($"SAM 2 top-down levels [{string.Join(", ", TopDownLevels)}] outside 0…{Trunk.Stages.Length - 1}");
    }

    /// <summary>
    /// The image encoder a SAM 2 state dict holds under <paramref name="prefix"/> (<c>image_encoder.</c> in the released
    /// checkpoints): the trunk by <see cref="HieraConfig.FromWeights"/>, the neck width from <c>neck.convs.0.conv.weight</c>;
    /// the top-down levels and the scalp leave no trace in the weights and are the released ones ([2, 3], 1).
    /// </summary>
    /// <param name="shape">The shape of a tensor by key, or null where the key is absent.</param>
    /// <param name="prefix">The encoder's key prefix.</param>
    /// <exception cref="FormatException">A tensor the layout needs is missing or has an unexpected shape.</exception>
    public static Sam2EncoderConfig FromWeights(Func<string, long[]?> shape, string prefix = "image_encoder.")
    {
        var trunk = HieraConfig.FromWeights(shape, prefix + "trunk.");
        string neck = prefix + "neck.convs.0.conv.weight";
        var conv = shape(neck) ?? throw new FormatException($"tensor '{neck}' is missing");
        return new Sam2EncoderConfig(trunk, (int)conv[0]);
    }
}
