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
/// SAM's mask decoder (Kirillov et al. 2023, §3 and App. A): an IoU token and M+1 mask tokens join the
/// prompt tokens, a two-way transformer updates tokens and image embedding, the image embedding is
/// upscaled 4× by two transposed convolutions, and each mask token's hypernetwork MLP gives the weights
/// of a dynamic linear classifier over the upscaled pixels; an MLP on the IoU token predicts each mask's IoU.
/// </summary>
public sealed class MaskDecoder : Module
{
    private readonly TwoWayTransformer transformer;
    private readonly Embedding iou_token, mask_tokens;
    private readonly Sequential output_upscaling;
    private readonly ModuleList<SamMlp> output_hypernetworks_mlps;
    private readonly SamMlp iou_prediction_head;
    private readonly int _maskTokens;

    /// <summary>The two-way transformer.</summary>
    public TwoWayTransformer Transformer => transformer;

    /// <summary>Creates the decoder.</summary>
    public MaskDecoder(int dim, TwoWayTransformer transformer, int multimaskOutputs = 3, int iouHeadDepth = 3, int iouHeadHidden = 256) : base(nameof(MaskDecoder))
    {
        this.transformer = transformer;
        _maskTokens = multimaskOutputs + 1;
        iou_token = Embedding(1, dim);
        mask_tokens = Embedding(_maskTokens, dim);
        output_upscaling = Sequential(
            ("0", ConvTranspose2d(dim, dim / 4, 2, stride: 2)),
            ("1", new LayerNorm2d(dim / 4)),
            ("2", GELU()),
            ("3", ConvTranspose2d(dim / 4, dim / 8, 2, stride: 2)),
            ("4", GELU()));
        output_hypernetworks_mlps = new ModuleList<SamMlp>([.. Enumerable.Range(0, _maskTokens).Select(_ => new SamMlp(dim, dim, dim / 8, 3))]);
        iou_prediction_head = new SamMlp(dim, iouHeadHidden, _maskTokens, iouHeadDepth);
        RegisterComponents();
    }

    /// <summary>The decoder's token list for a batch of sparse prompts: IoU token, mask tokens, prompts.</summary>
    public torch.Tensor Tokens(torch.Tensor sparse)
    {
        using var scope = torch.NewDisposeScope();
        var output = torch.cat([iou_token.weight!, mask_tokens.weight!], 0).unsqueeze(0).expand(sparse.shape[0], -1, -1);
        return torch.cat([output, sparse], 1).MoveToOuterDisposeScope();
    }


    /// <summary>The 4× upscaling of the transformer's image output, NCHW [B, C, h, w] → [B, C/8, 4h, 4w].</summary>
    public torch.Tensor Upscale(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        long h = image.shape[2], w = image.shape[3];
        var up = UpscaleTokens(image.flatten(2).transpose(1, 2).contiguous()); // [B, 16hw, C/8]
        return PixelOrder(up.transpose(1, 2), h, w).MoveToOuterDisposeScope();
    }

    // The upscaling on image tokens [B, hw, C] (channels-last), as matrix products: [B, 16hw, C/8], the pixels in the
    // order (y, x, i₁, j₁, i₂, j₂) of PixelOrder.
    private torch.Tensor UpscaleTokens(torch.Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var layers = output_upscaling.children().ToArray(); // ConvTranspose2d, LayerNorm2d, GELU, ConvTranspose2d, GELU
        var x = SubpixelConvolution(tokens, (ConvTranspose2d)layers[0]);
        x = Gelu(((LayerNorm2d)layers[1]).ForwardChannelsLast(x));
        x = Gelu(SubpixelConvolution(x, (ConvTranspose2d)layers[3]));
        return x.view(tokens.shape[0], -1, x.shape[1]).MoveToOuterDisposeScope();
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
    private static torch.Tensor Gelu(torch.Tensor x) => x.requires_grad ? x.gelu() : x.gelu_();

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
        var list = Enumerable.Range(0, _maskTokens).Select(i => output_hypernetworks_mlps[i].forward(hs[.., 1 + i, ..])).ToArray();
        return torch.stack(list, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits of all M+1 masks and their IoU predictions. The image embedding [1 or B, C, h, w] is
    /// repeated for each prompt of the batch; dense embeddings are added to it.
    /// </summary>
    public MaskPrediction PredictAll(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense) =>
        Predict(imageEmbedding, imagePe, sparse, dense, 0.._maskTokens);

    private MaskPrediction Predict(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, Range outputs)
    {
        using var scope = torch.NewDisposeScope();
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
        var upscaled = UpscaleTokens(keys);                                       // [B, 16hw, C/8]
        var hyper = HyperIn(hs)[.., outputs];                                     // [B, m, C/8]
        var masks = PixelOrder(torch.matmul(hyper, upscaled.transpose(1, 2)), h, w);
        var iou = iou_prediction_head.forward(hs[.., 0, ..])[.., outputs].contiguous();
        return new MaskPrediction(masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The decoder's output: with <paramref name="multimask"/> the M ambiguity-aware masks (tokens 1..M),
    /// otherwise the single mask (token 0).
    /// </summary>
    public MaskPrediction forward(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, bool multimask) =>
        Predict(imageEmbedding, imagePe, sparse, dense, multimask ? 1.._maskTokens : 0..1);
}
