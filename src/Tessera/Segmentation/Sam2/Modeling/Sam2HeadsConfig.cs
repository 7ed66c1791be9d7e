using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// Sizes and switches of SAM 2's prompt encoder and mask decoder (the "SAM heads" of sam2_base.py). The sizes are SAM's
/// (<see cref="SamConfig"/>: <c>PromptDim</c> is SAM 2's hidden dim, <c>PatchSize</c> its backbone stride; the encoder
/// fields are unused), with the settings the official configurations and builder give every released checkpoint (sam2
/// and sam2.1, all sizes): image size 1024, stride 16, IoU sigmoid, the multimask tokens for object pointers, and
/// <c>build_sam2</c>'s dynamic multimask fallback (stability δ 0.05, threshold 0.98).
/// </summary>
/// <param name="Sizes">The heads' sizes (null: SAM's defaults, which are SAM 2's: width 256, mask channels 16, depth 2, 8 heads, MLP 2048, IoU head 256, 3 masks).</param>
/// <param name="Decoder">The decoder's SAM 2 switches (null: <see cref="ReleasedDecoder"/>).</param>
public sealed record Sam2HeadsConfig(SamConfig? Sizes = null, MaskDecoderOptions? Decoder = null)
{
    /// <summary>The heads' sizes.</summary>
    public SamConfig Sizes { get; init; } = Sizes ?? new SamConfig();

    /// <summary>Width of the prompt embeddings and the decoder (the neck's d_model).</summary>
    public int HiddenDim => Sizes.PromptDim;

    /// <summary>Side of the square model input.</summary>
    public int ImageSize => Sizes.ImageSize;

    /// <summary>The decoder switches of the released checkpoints, as <c>build_sam2</c> sets them up.</summary>
    public static MaskDecoderOptions ReleasedDecoder { get; } = new(HighResFeatures: true, IouSigmoid: true, ObjectScores: true, ObjectScoreMlp: true,
        MultimaskTokenForObjectPointer: true, DynamicMultimask: true);

    /// <summary>The decoder's SAM 2 switches.</summary>
    public MaskDecoderOptions Decoder { get; init; } = Decoder ?? ReleasedDecoder;

    /// <summary>Side of the image embedding (image size over the backbone stride; 64).</summary>
    public int EmbeddingSize => Sizes.EmbeddingSize;

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
            new SamConfig(
                PromptDim: (int)Need("sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")[1] * 2,
                MaskInChannels: (int)Need("sam_prompt_encoder.mask_downscaling.3.weight")[0],
                DecoderDepth: depth,
                DecoderMlpDim: (int)Need("sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight")[0],
                IouHeadHiddenDim: (int)Need("sam_mask_decoder.iou_prediction_head.layers.0.weight")[0],
                MultimaskOutputs: (int)Need("sam_mask_decoder.mask_tokens.weight")[0] - 1),
            ReleasedDecoder with
            {
                HighResFeatures = shape("sam_mask_decoder.conv_s0.weight") is not null,
                ObjectScores = objectScores,
                ObjectScoreMlp = objectScores && shape("sam_mask_decoder.pred_obj_score_head.layers.0.weight") is not null,
            });
    }

    /// <summary>The prompt encoder of this configuration (random weights).</summary>
    internal PromptEncoder NewPromptEncoder() =>
        new(HiddenDim, (EmbeddingSize, EmbeddingSize), (ImageSize, ImageSize), Sizes.MaskInChannels);

    /// <summary>The mask decoder of this configuration (random weights): SAM's decoder with SAM 2's switches and key names.</summary>
    internal MaskDecoder NewMaskDecoder() =>
        new(HiddenDim, new TwoWayTransformer(Sizes.DecoderDepth, HiddenDim, Sizes.DecoderHeads, Sizes.DecoderMlpDim, downsampleRate: 2, mlpAsLayers: true),
            Sizes.MultimaskOutputs, 3, Sizes.IouHeadHiddenDim, Decoder);
}
