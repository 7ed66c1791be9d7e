using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Training;

/// <summary>
/// Segment Anything or MobileSAM as <see cref="IFineTunedSam"/>: images resized along the longest side and padded
/// (<see cref="SamPredictor.ModelInput"/>), one cached feature (the image embedding), masks upscaled through the padded
/// frame (<see cref="SamModel.PostprocessMasks"/>), saved as Tessera's model.safetensors.
/// </summary>
internal sealed class SamFineTunedModel(SamModel model) : IFineTunedSam
{
    /// <summary>The model.</summary>
    public SamModel Model => model;

    public torch.nn.Module Module => model;
    public torch.nn.Module ImageEncoder => model.ImageEncoder;
    public PromptEncoder PromptEncoder => model.PromptEncoder;
    public MaskDecoder MaskDecoder => model.MaskDecoder;
    public string ConfigJson => SamModel.ConfigJson(model.Config);

    public string CanonicalConfig(string json, string path) =>
        SamModel.ConfigJson(JsonSerializer.Deserialize<SamConfig>(json) ?? throw new TesseraFormatException(path, "empty SAM configuration"));

    public string CacheKey() => SamEmbeddingCache.ModelKey(model);
    public string CacheVariant => $"resize-longest-{model.Config.ImageSize}";
    public IReadOnlyCollection<string> FeatureNames { get; } = [SamEmbeddingCache.Embedding];

    public IReadOnlyDictionary<string, torch.Tensor> Encode(torch.Tensor rgb)
    {
        var (input, _) = SamPredictor.ModelInput(model, rgb);
        using (input) return new Dictionary<string, torch.Tensor> { [SamEmbeddingCache.Embedding] = model.ImageEncoder.forward(input) };
    }

    public (double X, double Y) ToModelFrame(double x, double y, (int H, int W) size) =>
        new ResizeLongestSide(model.Config.ImageSize).ApplyCoords(x, y, size);

    public SamRoundOutput Decode(IReadOnlyDictionary<string, torch.Tensor> features, torch.Tensor sparse, torch.Tensor dense, bool multimask)
    {
        using var pred = model.MaskDecoder.forward(features[SamEmbeddingCache.Embedding], model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask);
        return new SamRoundOutput(pred.Masks.alias(), pred.Iou.alias(), null);
    }

    public torch.Tensor Upscale(torch.Tensor lowRes, (int H, int W) size) =>
        model.PostprocessMasks(lowRes, ResizeLongestSide.PreprocessShape(size.H, size.W, model.Config.ImageSize), size);

    public string ModelFile => "model.safetensors";

    public void Save(string runDir, IReadOnlyDictionary<string, string> metadata) => model.Save(Path.Combine(runDir, ModelFile), metadata);

    public void Dispose() => model.Dispose();
}
