using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Segmentation.Sam2.Training;

/// <summary>
/// SAM 2 / SAM 2.1 as a model to fine-tune (<see cref="IFineTunedSam"/>), with the official image predictor's geometry:
/// the image resized to the square model size, prompts scaled by size/width and size/height, low-resolution logits
/// upscaled straight to the image size. Its cached features are the image embedding (the backbone's stride-16 level plus
/// <c>no_mem_embed</c>) and the stride-4 and stride-8 levels before the decoder's conv_s0 and conv_s1, which belong to the
/// mask decoder and are trained with it. The decoder runs in training mode (no dynamic multimask choice, as in the
/// official training) and gives its object-score logit to the loss. Saved as model.pt in the official layout.
/// </summary>
internal sealed class Sam2FineTunedModel(Sam2Model model) : IFineTunedSam
{
    private const string Level0 = "level0", Level1 = "level1";

    /// <summary>The model.</summary>
    public Sam2Model Model => model;

    public torch.nn.Module Module => model;
    public torch.nn.Module ImageEncoder => model.ImageEncoder;
    public PromptEncoder PromptEncoder => model.PromptEncoder;
    public MaskDecoder MaskDecoder => model.MaskDecoder;
    public string ConfigJson => JsonSerializer.Serialize(new { sam2 = model.Heads, encoder = model.ImageEncoder.Config });
    public string CanonicalConfig(string json, string path) => json;

    public string CacheKey() => SamEmbeddingCache.ModelKey(ConfigJson,
        model.ImageEncoder.state_dict().Append(new KeyValuePair<string, torch.Tensor>("no_mem_embed", model.NoMemoryEmbedding)));

    public string CacheVariant => $"sam2-square-{model.ImageSize}";
    public IReadOnlyCollection<string> FeatureNames { get; } = [SamEmbeddingCache.Embedding, Level0, Level1];

    public IReadOnlyDictionary<string, torch.Tensor> Encode(torch.Tensor rgb)
    {
        using var scope = torch.NewDisposeScope();
        var levels = model.ImageEncoder.forward(model.Preprocess(rgb, model.NoMemoryEmbedding.device)).BackboneFpn;
        var embedding = levels[2] + model.NoMemoryEmbedding.view(1, -1, 1, 1);
        return new Dictionary<string, torch.Tensor>
        {
            [SamEmbeddingCache.Embedding] = embedding.MoveToOuterDisposeScope(),
            [Level0] = levels[0].MoveToOuterDisposeScope(),
            [Level1] = levels[1].MoveToOuterDisposeScope(),
        };
    }

    // SAM2Transforms.transform_coords with normalize: x / w · S and y / h · S, in float32 as the official tensors are.
    public (double X, double Y) ToModelFrame(double x, double y, (int H, int W) size)
    {
        float s = model.ImageSize;
        return ((float)x / size.W * s, (float)y / size.H * s);
    }

    public SamRoundOutput Decode(IReadOnlyDictionary<string, torch.Tensor> features, torch.Tensor sparse, torch.Tensor dense, bool multimask)
    {
        using var scope = torch.NewDisposeScope();
        var highRes = model.MaskDecoder.ProjectHighRes(features[Level0], features[Level1]);
        using var all = model.MaskDecoder.DecodeAll(features[SamEmbeddingCache.Embedding], model.PromptEncoder.DensePositionalEncoding(), sparse, dense, highRes);
        using var chosen = model.MaskDecoder.Choose(all, multimask);
        return new SamRoundOutput(chosen.Masks.alias().MoveToOuterDisposeScope(), chosen.Iou.alias().MoveToOuterDisposeScope(),
            all.ObjectScoreLogits.alias().MoveToOuterDisposeScope());
    }

    // SAM2Transforms.postprocess_masks without the CUDA extension: a bilinear resize straight to the image size.
    public torch.Tensor Upscale(torch.Tensor lowRes, (int H, int W) size) =>
        torch.nn.functional.interpolate(lowRes, size: [size.H, size.W], mode: torch.InterpolationMode.Bilinear, align_corners: false);

    public string ModelFile => "model.pt";

    public void Save(string runDir, IReadOnlyDictionary<string, string> metadata) => model.SaveOfficial(Path.Combine(runDir, ModelFile));

    public void Dispose() => model.Dispose();
}
