using Tessera.Runtime;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's image encoder (Ravi et al. 2024, §4 "Image encoder"; the official <c>backbones.image_encoder.ImageEncoder</c>):
/// the <see cref="Hiera"/> trunk, the <see cref="FpnNeck"/>, and the scalp, which drops the lowest-resolution level.
/// For preprocessed images [B, 3, L, L] (L = 1024 for the released models) it gives what
/// <c>SAM2Base.forward_image</c> takes from the encoder, before the mask decoder's <c>conv_s0</c>/<c>conv_s1</c>
/// projections: the pyramid [B, d, L/4], [B, d, L/8], [B, d, L/16] and its position encodings
/// (<see cref="Sam2BackboneOutput"/>). Keys <c>trunk.*</c> and <c>neck.*</c>, as under <c>image_encoder.</c> in the
/// released checkpoints, so a SAM 2 model holds it as its <c>image_encoder</c> and loads them as they are.
/// </summary>
public sealed class Sam2ImageEncoder : torch.nn.Module<torch.Tensor, Sam2BackboneOutput>, IConvertibleEncoder
{
    private readonly Hiera trunk;
    private readonly FpnNeck neck;

    /// <summary>The configuration.</summary>
    public Sam2EncoderConfig Config { get; }

    /// <summary>The Hiera trunk.</summary>
    public Hiera Trunk => trunk;

    /// <summary>The FPN neck.</summary>
    public FpnNeck Neck => neck;

    /// <summary>Builds the encoder for <paramref name="config"/> (validated first), with the official zero/default initialisation.</summary>
    /// <exception cref="ArgumentException">A size that cannot work.</exception>
    public Sam2ImageEncoder(Sam2EncoderConfig config) : base(nameof(Sam2ImageEncoder))
    {
        config.Validate();
        Config = config;
        trunk = new Hiera(config.Trunk);
        neck = new FpnNeck(config.DModel, config.BackboneChannelList, config.TopDownLevels);
        RegisterComponents();
    }

    /// <summary>The precision the trunk's and the neck's products run at (<see cref="EncoderPrecision"/>); the outputs are float32 whatever it is.</summary>
    public Precision Precision => EncoderPrecision.Of(this);

    torch.ScalarType IConvertibleEncoder.ComputeType => trunk.ComputeType;

    void IConvertibleEncoder.ConvertWeights(torch.ScalarType type)
    {
        trunk.ConvertWeights(type);
        neck.ConvertWeights(type);
    }

    /// <summary>
    /// Converts the encoder's weights in place for <paramref name="precision"/> (<see cref="EncoderPrecision"/>: the trunk's
    /// patch embedding and blocks and the neck's lateral convolutions; the position tables stay float32). Float32 leaves a
    /// float32 encoder alone; a lower precision cannot be undone.
    /// </summary>
    /// <exception cref="TesseraUserException">The encoder was converted to another precision already (parameter <c>precision</c>).</exception>
    public void ApplyPrecision(Precision precision) => EncoderPrecision.Apply(this, precision);

    /// <summary>The pyramid after the scalp and its position encodings for preprocessed images [B, 3, H, W] (sides multiples of 32 with the released windows).</summary>
    public override Sam2BackboneOutput forward(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var levels = trunk.forward(image);
        var (features, positions) = neck.forward(levels);
        int keep = features.Count - Config.Scalp;
        var fpn = features.Take(keep).ToList();
        var pos = positions.Take(keep).ToList();
        foreach (var t in fpn.Concat(pos)) t.MoveToOuterDisposeScope();
        return new Sam2BackboneOutput(fpn, pos);
    }

    /// <summary>
    /// Reads the image encoder of a SAM 2 checkpoint (a released <c>sam2*_hiera_*.pt</c>, whose <c>model</c> dictionary is
    /// unwrapped, or a safetensors file with the same keys): its sizes from the weights
    /// (<see cref="Sam2EncoderConfig.FromWeights"/>), then every <paramref name="prefix"/> tensor, strictly; other keys
    /// (prompt encoder, mask decoder, memory) are ignored.
    /// </summary>
    /// <exception cref="TesseraFormatException">Not a readable checkpoint, or its encoder tensors do not fit (named in the message).</exception>
    public static Sam2ImageEncoder Load(string path, torch.Device? device = null, string prefix = "image_encoder.")
    {
        Runtime.TorchRuntime.EnsureConfigured();
        var tensors = Checkpoint.ReadAny(path);
        try
        {
            var mine = tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            Sam2EncoderConfig config;
            try
            {
                config = Sam2EncoderConfig.FromWeights(k => mine.TryGetValue(k, out var t) ? t.shape : null, "");
                config.Validate();
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new TesseraFormatException(path, $"no SAM 2 image encoder under '{prefix}': {e.Message}", e);
            }
            var encoder = new Sam2ImageEncoder(config);
            var state = encoder.state_dict();
            Checkpoint.Validate(path, state, mine);
            using (torch.no_grad())
                foreach (var (name, target) in state) target.copy_(mine[name]);
            if (device is not null) encoder.to(device);
            return encoder;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
