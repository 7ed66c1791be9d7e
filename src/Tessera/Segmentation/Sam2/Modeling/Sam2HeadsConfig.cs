using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// Sizes and switches of SAM 2's prompt encoder and mask decoder (the "SAM heads" of sam2_base.py), with the settings
/// the official configurations and builder give every released checkpoint (sam2 and sam2.1, all sizes): image size 1024,
/// backbone stride 16, IoU sigmoid, the multimask tokens for object pointers, and <c>build_sam2</c>'s dynamic multimask
/// fallback (stability δ 0.05, threshold 0.98).
/// </summary>
/// <param name="HiddenDim">Width of the prompt embeddings and the decoder (the neck's d_model; 256 in every release).</param>
/// <param name="MaskInChannels">Hidden channels of the mask-prompt branch (16).</param>
/// <param name="DecoderDepth">Two-way transformer layers (2).</param>
/// <param name="DecoderHeads">Attention heads (8; not visible in the weights).</param>
/// <param name="DecoderMlpDim">Hidden width of the transformer MLPs (2048).</param>
/// <param name="IouHeadHiddenDim">Hidden width of the IoU head (256).</param>
/// <param name="MultimaskOutputs">Masks of a multimask output (3).</param>
/// <param name="ImageSize">Side of the square model input (1024).</param>
/// <param name="BackboneStride">Stride of the image embedding (16).</param>
/// <param name="Decoder">The decoder's SAM 2 switches (null: <see cref="ReleasedDecoder"/>).</param>
public sealed record Sam2HeadsConfig(
    int HiddenDim = 256,
    int MaskInChannels = 16,
    int DecoderDepth = 2,
    int DecoderHeads = 8,
    int DecoderMlpDim = 2048,
    int IouHeadHiddenDim = 256,
    int MultimaskOutputs = 3,
    int ImageSize = 1024,
    int BackboneStride = 16,
    MaskDecoderOptions? Decoder = null)
{
    /// <summary>The decoder switches of the released checkpoints, as <c>build_sam2</c> sets them up.</summary>
    public static MaskDecoderOptions ReleasedDecoder { get; } = new(HighResFeatures: true, IouSigmoid: true, ObjectScores: true, ObjectScoreMlp: true,
        MultimaskTokenForObjectPointer: true, DynamicMultimask: true);

    /// <summary>The decoder's SAM 2 switches.</summary>
    public MaskDecoderOptions Decoder { get; init; } = Decoder ?? ReleasedDecoder;

    /// <summary>Side of the image embedding (image size over the backbone stride; 64).</summary>
    public int EmbeddingSize => ImageSize / BackboneStride;

    /// <summary>
    /// The heads of a SAM 2 state dict, read from its shapes under <c>sam_prompt_encoder.</c> and <c>sam_mask_decoder.</c>:
    /// widths, depth, and whether the high-resolution convolutions and the object-score head (linear or MLP) are there.
    /// Settings the weights do not show keep the released values.
    /// </summary>
    /// <exception cref="FormatException">A tensor the layout needs is missing (its name in the message).</exception>
    public static Sam2HeadsConfig FromWeights(Func<string, long[]?> shape)
    {
        long[] Need(string key) => shape(key) ?? throw new FormatException($"tensor '{key}' is missing");
        int depth = 0;
        while (shape($"sam_mask_decoder.transformer.layers.{depth}.norm1.weight") is not null) depth++;
        bool objectScores = shape("sam_mask_decoder.obj_score_token.weight") is not null;
        return new Sam2HeadsConfig(
            HiddenDim: (int)Need("sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")[1] * 2,
            MaskInChannels: (int)Need("sam_prompt_encoder.mask_downscaling.3.weight")[0],
            DecoderDepth: depth,
            DecoderMlpDim: (int)Need("sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight")[0],
            IouHeadHiddenDim: (int)Need("sam_mask_decoder.iou_prediction_head.layers.0.weight")[0],
            MultimaskOutputs: (int)Need("sam_mask_decoder.mask_tokens.weight")[0] - 1,
            Decoder: ReleasedDecoder with
            {
                HighResFeatures = shape("sam_mask_decoder.conv_s0.weight") is not null,
                ObjectScores = objectScores,
                ObjectScoreMlp = objectScores && shape("sam_mask_decoder.pred_obj_score_head.layers.0.weight") is not null,
            });
    }

    /// <summary>The prompt encoder of this configuration (random weights).</summary>
    internal PromptEncoder NewPromptEncoder() =>
        new(HiddenDim, (EmbeddingSize, EmbeddingSize), (ImageSize, ImageSize), MaskInChannels);

    /// <summary>The mask decoder of this configuration (random weights): SAM's decoder with SAM 2's switches and key names.</summary>
    internal MaskDecoder NewMaskDecoder() =>
        new(HiddenDim, new TwoWayTransformer(DecoderDepth, HiddenDim, DecoderHeads, DecoderMlpDim, downsampleRate: 2, mlpAsLayers: true),
            MultimaskOutputs, 3, IouHeadHiddenDim, Decoder);
}
