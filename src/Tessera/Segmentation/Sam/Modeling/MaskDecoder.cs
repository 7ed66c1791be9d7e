using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>Mask logits [B, M, 4h, 4w] and predicted IoUs [B, M] of the mask decoder.</summary>
public sealed record MaskPrediction(torch.Tensor Masks, torch.Tensor Iou) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Masks.Dispose();
        Iou.Dispose();
    }
}

/// <summary>
/// Everything one pass of the decoder gives, for all M+1 mask tokens: logits [B, M+1, 4h, 4w], IoUs [B, M+1], the mask
/// tokens' transformer outputs [B, M+1, C] (SAM 2's object pointers are made from them) and the object-score logits
/// [B, 1] (SAM 2; 10 — "object present" — for a decoder without the object-score head, as the official code fills in).
/// </summary>
public sealed record MaskDecoding(torch.Tensor Masks, torch.Tensor Iou, torch.Tensor MaskTokens, torch.Tensor ObjectScoreLogits) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Masks.Dispose();
        Iou.Dispose();
        MaskTokens.Dispose();
        ObjectScoreLogits.Dispose();
    }
}

/// <summary>
/// SAM 2's additions to the mask decoder (Ravi et al. 2024, §4 and App. C; sam2/modeling/sam/mask_decoder.py); all off
/// is SAM's decoder. The weights of the switched-on parts (conv_s0, conv_s1, obj_score_token, pred_obj_score_head) show
/// in a checkpoint; the dynamic multimask choice is a setting of the official builder (on by default there).
/// </summary>
/// <param name="HighResFeatures">Stride-4 and stride-8 backbone features (projected by conv_s0 and conv_s1) are added inside the upscaling.</param>
/// <param name="IouSigmoid">The IoU head's output goes through a sigmoid (iou_prediction_use_sigmoid).</param>
/// <param name="ObjectScores">An object-score token leads the output tokens, read by a head predicting whether the object is present.</param>
/// <param name="ObjectScoreMlp">The object-score head is a 3-layer MLP rather than one linear layer.</param>
/// <param name="MultimaskTokenForObjectPointer">With multimask output, the three multimask tokens (not the single-mask token) are the tokens returned for object pointers.</param>
/// <param name="DynamicMultimask">In evaluation without multimask output, fall back to the best multimask output when the single mask is unstable.</param>
/// <param name="StabilityDelta">Logit offset of that stability score (dynamic_multimask_stability_delta).</param>
/// <param name="StabilityThreshold">Stability below which the single mask is replaced (dynamic_multimask_stability_thresh).</param>
public sealed record MaskDecoderOptions(
    bool HighResFeatures = false,
    bool IouSigmoid = false,
    bool ObjectScores = false,
    bool ObjectScoreMlp = false,
    bool MultimaskTokenForObjectPointer = false,
    bool DynamicMultimask = false,
    double StabilityDelta = 0.05,
    double StabilityThreshold = 0.98);

/// <summary>
/// Projected high-resolution backbone features of SAM 2 for the decoder's upscaling: <see cref="S0"/> [1 or B, C/8, 4h, 4w]
/// (conv_s0 of the stride-4 level) and <see cref="S1"/> [1 or B, C/4, 2h, 2w] (conv_s1 of the stride-8 level).
/// </summary>
public sealed record HighResFeatures(torch.Tensor S0, torch.Tensor S1);

/// <summary>
/// SAM's mask decoder (Kirillov et al. 2023, §3 and App. A): an IoU token and M+1 mask tokens join the
/// prompt tokens, a two-way transformer updates tokens and image embedding, the image embedding is
/// upscaled 4× by two transposed convolutions, and each mask token's hypernetwork MLP gives the weights
/// of a dynamic linear classifier over the upscaled pixels; an MLP on the IoU token predicts each mask's IoU.
/// With <see cref="MaskDecoderOptions"/> it is SAM 2's decoder (high-resolution features, object scores).
/// </summary>
public sealed class MaskDecoder : Module
{
    private readonly TwoWayTransformer transformer;
    private readonly Embedding iou_token, mask_tokens;
    private readonly Embedding? obj_score_token;
    private readonly Sequential output_upscaling;
    private readonly Conv2d? conv_s0, conv_s1;
    private readonly ModuleList<SamMlp> output_hypernetworks_mlps;
    private readonly SamMlp iou_prediction_head;
    private readonly Module<torch.Tensor, torch.Tensor>? pred_obj_score_head;
    private readonly int _maskTokens;
    private readonly int _first; // index of the IoU token: 1 after SAM 2's object-score token, else 0

    /// <summary>The two-way transformer.</summary>
    public TwoWayTransformer Transformer => transformer;

    /// <summary>SAM 2's switches (all off for SAM).</summary>
    public MaskDecoderOptions Options { get; }

    /// <summary>Creates the decoder.</summary>
    public MaskDecoder(int dim, TwoWayTransformer transformer, int multimaskOutputs = 3, int iouHeadDepth = 3, int iouHeadHidden = 256, MaskDecoderOptions? options = null) : base(nameof(MaskDecoder))
    {
        this.transformer = transformer;
        Options = options ?? new MaskDecoderOptions();
        _maskTokens = multimaskOutputs + 1;
        _first = Options.ObjectScores ? 1 : 0;
        iou_token = Embedding(1, dim);
        mask_tokens = Embedding(_maskTokens, dim);
        if (Options.ObjectScores)
        {
            obj_score_token = Embedding(1, dim);
            pred_obj_score_head = Options.ObjectScoreMlp ? new SamMlp(dim, dim, 1, 3) : Linear(dim, 1);
        }
        output_upscaling = Sequential(
            ("0", ConvTranspose2d(dim, dim / 4, 2, stride: 2)),
            ("1", new LayerNorm2d(dim / 4)),
            ("2", GELU()),
            ("3", ConvTranspose2d(dim / 4, dim / 8, 2, stride: 2)),
            ("4", GELU()));
        if (Options.HighResFeatures)
        {
            conv_s0 = Conv2d(dim, dim / 8, 1);
            conv_s1 = Conv2d(dim, dim / 4, 1);
        }
        output_hypernetworks_mlps = new ModuleList<SamMlp>([.. Enumerable.Range(0, _maskTokens).Select(_ => new SamMlp(dim, dim, dim / 8, 3))]);
        iou_prediction_head = new SamMlp(dim, iouHeadHidden, _maskTokens, iouHeadDepth);
        RegisterComponents();
    }

    /// <summary>
    /// SAM 2's projection of the stride-4 and stride-8 backbone levels [B, C, 4h, 4w] and [B, C, 2h, 2w] by conv_s0 and
    /// conv_s1 (done once per image, as the official forward_image does).
    /// </summary>
    /// <exception cref="InvalidOperationException">The decoder has no high-resolution path.</exception>
    public HighResFeatures ProjectHighRes(torch.Tensor level0, torch.Tensor level1)
    {
        if (conv_s0 is null || conv_s1 is null) throw new InvalidOperationException("this mask decoder has no high-resolution features (SAM 2 only)");
        return new HighResFeatures(conv_s0.forward(level0), conv_s1.forward(level1));
    }

    /// <summary>The decoder's token list for a batch of sparse prompts: (object-score token,) IoU token, mask tokens, prompts.</summary>
    public torch.Tensor Tokens(torch.Tensor sparse)
    {
        using var scope = torch.NewDisposeScope();
        var own = obj_score_token is null ? [iou_token.weight!, mask_tokens.weight!] : new[] { obj_score_token.weight!, iou_token.weight!, mask_tokens.weight! };
        var output = torch.cat(own, 0).unsqueeze(0).expand(sparse.shape[0], -1, -1);
        return torch.cat([output, sparse], 1).MoveToOuterDisposeScope();
    }


    /// <summary>The 4× upscaling of the transformer's image output, NCHW [B, C, h, w] → [B, C/8, 4h, 4w].</summary>
    public torch.Tensor Upscale(torch.Tensor image, HighResFeatures? highRes = null)
    {
        using var scope = torch.NewDisposeScope();
        long h = image.shape[2], w = image.shape[3];
        var up = UpscaleTokens(image.flatten(2).transpose(1, 2).contiguous(), highRes, h, w); // [B, 16hw, C/8]
        return PixelOrder(up.transpose(1, 2), h, w).MoveToOuterDisposeScope();
    }

    // The upscaling on image tokens [B, hw, C] (channels-last), as matrix products: [B, 16hw, C/8], the pixels in the
    // order (y, x, i₁, j₁, i₂, j₂) of PixelOrder. SAM 2 adds its projected high-resolution features before the
    // LayerNorm and before the last GELU: act(dc2(act(ln(dc1(x) + s1))) + s0).
    private torch.Tensor UpscaleTokens(torch.Tensor tokens, HighResFeatures? highRes, long h, long w)
    {
        using var scope = torch.NewDisposeScope();
        var layers = output_upscaling.children().ToArray(); // ConvTranspose2d, LayerNorm2d, GELU, ConvTranspose2d, GELU
        long b = tokens.shape[0];
        var x = SubpixelConvolution(tokens, (ConvTranspose2d)layers[0]);
        if (highRes is not null) x = (x.view(b, -1, x.shape[1]) + SubpixelOrder(highRes.S1, h, w, 1)).view(-1, x.shape[1]);
        x = Gelu(((LayerNorm2d)layers[1]).ForwardChannelsLast(x));
        x = SubpixelConvolution(x, (ConvTranspose2d)layers[3]);
        if (highRes is not null) x = (x.view(b, -1, x.shape[1]) + SubpixelOrder(highRes.S0, h, w, 2)).view(-1, x.shape[1]);
        x = Gelu(x);
        return x.view(b, -1, x.shape[1]).MoveToOuterDisposeScope();
    }

    // A feature map [B, C, 2ˡh, 2ˡw] (l = 1 or 2) as tokens [B, 4ˡhw, C] in the order of the upscaling after l steps:
    // (y, x, i₁, j₁) or (y, x, i₁, j₁, i₂, j₂), where row = 2ˡy + 2ˡ⁻¹i₁ (+ i₂).
    private static torch.Tensor SubpixelOrder(torch.Tensor map, long h, long w, int steps)
    {
        long b = map.shape[0], c = map.shape[1];
        if (steps == 1) return map.view(b, c, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, c);
        return map.view(b, c, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1).reshape(b, -1, c);
    }

    // A transposed convolution with kernel 2 and stride 2 puts one C_out × 2 × 2 block on each input pixel, without overlap:
    //   out[2y + i, 2x + j, o] = b[o] + Σ_c in[y, x, c] W[c, o, i, j],
    // one matrix product of the pixels [N, C_in] with W read as [C_in, (i, j, o)]. Its [N, 4·C_out] output, read as
    // [4N, C_out], holds the new pixels channels-last in the order (y, x, i, j).
    private static torch.Tensor SubpixelConvolution(torch.Tensor x, ConvTranspose2d conv)
    {
        var weight = conv.weight!; // [C_in, C_out, 2, 2]
        long cin = weight.shape[0], cout = weight.shape[1];
        using var matrix = weight.permute(0, 2, 3, 1).reshape(cin, 4 * cout);
        using var bias = conv.bias!.repeat(4);
        using var y = torch.addmm(bias, x.reshape(-1, cin), matrix, beta: 1, alpha: 1);
        return y.view(-1, cout);
    }

    // GELU (exact, as nn.GELU), in place where no gradient needs its input.
    private static torch.Tensor Gelu(torch.Tensor x) => ErfGelu.Activation(x);

    // Values over upscaled pixels [B, K, 16hw] in UpscaleTokens' order → images [B, K, 4h, 4w]: row 4y + 2i₁ + i₂, column 4x + 2j₁ + j₂.
    private static torch.Tensor PixelOrder(torch.Tensor values, long h, long w)
    {
        long b = values.shape[0], k = values.shape[1];
        using var split = values.view(b, k, h, w, 2, 2, 2, 2);
        using var ordered = split.permute(0, 1, 2, 4, 6, 3, 5, 7);
        return ordered.reshape(b, k, 4 * h, 4 * w);
    }

    /// <summary>Hypernetwork outputs for the mask tokens of transformer outputs <paramref name="hs"/>: [B, M, C/8].</summary>
    public torch.Tensor HyperIn(torch.Tensor hs)
    {
        using var scope = torch.NewDisposeScope();
        var list = Enumerable.Range(0, _maskTokens).Select(i => output_hypernetworks_mlps[i].forward(hs[.., _first + 1 + i, ..])).ToArray();
        return torch.stack(list, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits of all M+1 masks and their IoU predictions. The image embedding [1 or B, C, h, w] is
    /// repeated for each prompt of the batch; dense embeddings are added to it.
    /// </summary>
    public MaskPrediction PredictAll(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, HighResFeatures? highRes = null)
    {
        using var scope = torch.NewDisposeScope();
        var (masks, iou, _) = Predict(imageEmbedding, imagePe, sparse, dense, 0.._maskTokens, highRes);
        return new MaskPrediction(masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// One pass over all M+1 mask tokens with everything it gives (<see cref="MaskDecoding"/>): SAM 2's
    /// <c>predict_masks</c>. The image embedding [1 or B, C, h, w] is repeated for each prompt of the batch.
    /// </summary>
    public MaskDecoding DecodeAll(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, HighResFeatures? highRes = null)
    {
        using var scope = torch.NewDisposeScope();
        var (masks, iou, hs) = Predict(imageEmbedding, imagePe, sparse, dense, 0.._maskTokens, highRes);
        var tokens = hs[.., (_first + 1)..(_first + 1 + _maskTokens), ..].contiguous();
        var score = pred_obj_score_head is null
            ? torch.full(hs.shape[0], 1, 10.0f, device: hs.device)
            : pred_obj_score_head.forward(hs[.., 0, ..]);
        return new MaskDecoding(masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope(), tokens.MoveToOuterDisposeScope(), score.MoveToOuterDisposeScope());
    }

    private (torch.Tensor Masks, torch.Tensor Iou, torch.Tensor Hs) Predict(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, Range outputs, HighResFeatures? highRes)
    {
        using var scope = torch.NewDisposeScope();
        if (highRes is not null && conv_s0 is null) throw new ArgumentException("this mask decoder takes no high-resolution features (SAM 2 only)", nameof(highRes));
        if (highRes is null && conv_s0 is not null) throw new ArgumentException("SAM 2's mask decoder needs the high-resolution features", nameof(highRes));
        var tokens = Tokens(sparse);
        long b = tokens.shape[0];
        long c = imageEmbedding.shape[1], h = imageEmbedding.shape[2], w = imageEmbedding.shape[3];
        // src = the image embedding, once per prompt, plus the dense prompt embedding; as image tokens [B, hw, C]
        // (a broadcast sum: neither the embedding nor the "no mask" embedding is repeated first).
        var image = imageEmbedding.flatten(2).transpose(1, 2).contiguous();
        var src = image + dense.flatten(2).transpose(1, 2);
        if (src.shape[0] != b) src = src.expand(b, -1, -1);
        if (!src.is_contiguous()) src = src.contiguous();
        var (hs, keys) = transformer.forward(src.transpose(1, 2).view(b, c, h, w), imagePe, tokens);
        var upscaled = UpscaleTokens(keys, highRes, h, w);                        // [B, 16hw, C/8]
        var hyper = HyperIn(hs)[.., outputs];                                     // [B, m, C/8]
        var masks = PixelOrder(torch.matmul(hyper, upscaled.transpose(1, 2)), h, w);
        var iou = iou_prediction_head.forward(hs[.., _first, ..]);
        if (Options.IouSigmoid) iou = iou.sigmoid();
        iou = iou[.., outputs].contiguous();
        return (masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope(), hs.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The decoder's output: with <paramref name="multimask"/> the M ambiguity-aware masks (tokens 1..M),
    /// otherwise the single mask (token 0) — or, for SAM 2 with <see cref="MaskDecoderOptions.DynamicMultimask"/> in
    /// evaluation, the best multimask output wherever the single mask is unstable (<see cref="Choose"/>).
    /// <paramref name="highRes"/>: SAM 2's projected high-resolution features (<see cref="ProjectHighRes"/>), null for SAM.
    /// </summary>
    public MaskPrediction forward(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, bool multimask, HighResFeatures? highRes = null)
    {
        if (!multimask && Options.DynamicMultimask && !training)
        {
            using var all = DecodeAll(imageEmbedding, imagePe, sparse, dense, highRes);
            return Choose(all, multimask);
        }
        using var scope = torch.NewDisposeScope();
        var (masks, iou, _) = Predict(imageEmbedding, imagePe, sparse, dense, multimask ? 1.._maskTokens : 0..1, highRes);
        return new MaskPrediction(masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The official selection from a full decoding: the M multimask outputs; or without multimask, the single mask, which
    /// SAM 2's dynamic choice (when switched on and in evaluation) replaces per prompt by the multimask output of the
    /// highest predicted IoU when its stability score — |logits &gt; δ| / |logits &gt; −δ|, 1 for an empty union — is below the threshold.
    /// </summary>
    public MaskPrediction Choose(MaskDecoding all, bool multimask)
    {
        using var scope = torch.NewDisposeScope();
        if (multimask) return Keep(all.Masks[.., 1..], all.Iou[.., 1..]);
        var single = all.Masks[.., 0..1];
        var singleIou = all.Iou[.., 0..1];
        if (!Options.DynamicMultimask || training) return Keep(single, singleIou);
        var multi = all.Masks[.., 1..];
        var multiIou = all.Iou[.., 1..];
        var best = multiIou.argmax(-1);
        var rows = torch.arange(multi.shape[0], device: multi.device);
        var bestMasks = multi[rows, best].unsqueeze(1);
        var bestIou = multiIou[rows, best].unsqueeze(1);
        var stability = Stability(single.flatten(-2), Options.StabilityDelta);
        using var thresh = Options.StabilityThreshold.ToScalar();
        var stable = stability.ge(thresh); // [B, 1]
        var masks = torch.where(stable.unsqueeze(-1).unsqueeze(-1).expand_as(single), single, bestMasks);
        var iou = torch.where(stable.expand_as(singleIou), singleIou, bestIou);
        return Keep(masks, iou);

        static MaskPrediction Keep(torch.Tensor masks, torch.Tensor iou) =>
            new(masks.contiguous().MoveToOuterDisposeScope(), iou.contiguous().MoveToOuterDisposeScope());
    }

    /// <summary>The mask tokens SAM 2 makes object pointers of: the multimask tokens [B, M, C] with multimask output when so configured, else the single-mask token [B, 1, C].</summary>
    public torch.Tensor PointerTokens(MaskDecoding all, bool multimask) =>
        multimask && Options.MultimaskTokenForObjectPointer ? all.MaskTokens[.., 1..] : all.MaskTokens[.., 0..1];

    // SAM 2's stability of logits [..., N] at offset δ: the area above +δ over the area above −δ (1 when both are empty).
    private static torch.Tensor Stability(torch.Tensor logits, double delta)
    {
        using var scope = torch.NewDisposeScope();
        using var up = delta.ToScalar();
        using var down = (-delta).ToScalar();
        var inter = logits.gt(up).sum(-1).to(torch.ScalarType.Float32);
        var union = logits.gt(down).sum(-1).to(torch.ScalarType.Float32);
        using var zero = 0.ToScalar();
        return torch.where(union.gt(zero), inter / union, torch.ones_like(inter)).MoveToOuterDisposeScope();
    }
}
