using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam;

/// <summary>A plain MLP with ReLU between layers (SAM's hypernetwork and IoU heads).</summary>
public sealed class SamMlp : Module<torch.Tensor, torch.Tensor>
{
    private readonly ModuleList<Linear> layers;

    /// <summary>Creates an MLP of <paramref name="depth"/> linear layers.</summary>
    public SamMlp(int input, int hidden, int output, int depth) : base(nameof(SamMlp))
    {
        var sizes = new List<int> { input };
        sizes.AddRange(Enumerable.Repeat(hidden, depth - 1));
        sizes.Add(output);
        layers = new ModuleList<Linear>([.. Enumerable.Range(0, depth).Select(i => Linear(sizes[i], sizes[i + 1]))]);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        for (int i = 0; i < layers.Count; i++)
        {
            x = layers[i].forward(x);
            if (i < layers.Count - 1) x = functional.relu(x);
        }
        return x.MoveToOuterDisposeScope();
    }
}

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

    /// <summary>The 4× upscaling of the transformer's image output, NCHW.</summary>
    public torch.Tensor Upscale(torch.Tensor image) => output_upscaling.forward(image);

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
    public MaskPrediction PredictAll(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense)
    {
        using var scope = torch.NewDisposeScope();
        var tokens = Tokens(sparse);
        long b = tokens.shape[0];
        var src = (imageEmbedding.shape[0] == b ? imageEmbedding : torch.repeat_interleave(imageEmbedding, b, 0)) + dense;
        var pos = imagePe.shape[0] == b ? imagePe : torch.repeat_interleave(imagePe, b, 0);
        long c = src.shape[1], h = src.shape[2], w = src.shape[3];
        var (hs, keys) = transformer.forward(src, pos, tokens);
        var upscaled = output_upscaling.forward(keys.transpose(1, 2).reshape(b, c, h, w));
        var hyper = HyperIn(hs);
        long uc = upscaled.shape[1], uh = upscaled.shape[2], uw = upscaled.shape[3];
        var masks = torch.matmul(hyper, upscaled.view(b, uc, uh * uw)).view(b, -1, uh, uw);
        var iou = iou_prediction_head.forward(hs[.., 0, ..]);
        return new MaskPrediction(masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The decoder's output: with <paramref name="multimask"/> the M ambiguity-aware masks (tokens 1..M),
    /// otherwise the single mask (token 0).
    /// </summary>
    public MaskPrediction forward(torch.Tensor imageEmbedding, torch.Tensor imagePe, torch.Tensor sparse, torch.Tensor dense, bool multimask)
    {
        using var all = PredictAll(imageEmbedding, imagePe, sparse, dense);
        var range = multimask ? (1..) : (0..1);
        return new MaskPrediction(all.Masks[.., range].contiguous(), all.Iou[.., range].contiguous());
    }
}
