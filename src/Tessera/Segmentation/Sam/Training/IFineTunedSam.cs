using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Training;

/// <summary>One prompting round's decoder output: low-resolution logits [B, M, h, w], IoU predictions [B, M] and, for SAM 2, object-score logits [B, 1].</summary>
/// <param name="LowRes">Low-resolution mask logits.</param>
/// <param name="Iou">Predicted IoUs.</param>
/// <param name="ObjectScore">Object-score logits, or null for a decoder without the object-score head (SAM).</param>
internal sealed record SamRoundOutput(torch.Tensor LowRes, torch.Tensor Iou, torch.Tensor? ObjectScore);

/// <summary>
/// What fine-tuning needs of a model of a SAM family (<see cref="SamDatasetTrainer"/>): its parts, the image features it
/// caches (by name), its own prompt frame and mask upscaling, the decoder pass of one prompting round, and its output
/// file. SAM and MobileSAM are <see cref="SamFineTunedModel"/>; SAM 2 lives beside SAM 2 (it builds on SAM).
/// </summary>
internal interface IFineTunedSam : IDisposable
{
    /// <summary>The whole model (the module the engine trains and checkpoints).</summary>
    torch.nn.Module Module { get; }

    /// <summary>The image encoder.</summary>
    torch.nn.Module ImageEncoder { get; }

    /// <summary>The prompt encoder.</summary>
    PromptEncoder PromptEncoder { get; }

    /// <summary>The mask decoder.</summary>
    MaskDecoder MaskDecoder { get; }

    /// <summary>The configuration as recorded in training checkpoints.</summary>
    string ConfigJson { get; }

    /// <summary>Canonical form of a recorded configuration (compared on resume).</summary>
    string CanonicalConfig(string json, string path);

    /// <summary>The encoder's identity for the embedding cache (<see cref="Inference.SamEmbeddingCache.ModelKey(string, IEnumerable{KeyValuePair{string, torch.Tensor}})"/>).</summary>
    string CacheKey();

    /// <summary>What else decides the cached features (the model input's geometry).</summary>
    string CacheVariant { get; }

    /// <summary>The names of the features <see cref="Encode"/> gives (all of them cached).</summary>
    IReadOnlyCollection<string> FeatureNames { get; }

    /// <summary>The image features of an RGB image uint8 [3, H, W], by name, on the model's device.</summary>
    IReadOnlyDictionary<string, torch.Tensor> Encode(torch.Tensor rgb);

    /// <summary>A point of an image of <paramref name="size"/> (original pixels) in the prompt encoder's frame.</summary>
    (double X, double Y) ToModelFrame(double x, double y, (int H, int W) size);

    /// <summary>The decoder pass of one round on the features of one image: sparse [B, N, C] and dense [B, C, h, w] prompt embeddings.</summary>
    SamRoundOutput Decode(IReadOnlyDictionary<string, torch.Tensor> features, torch.Tensor sparse, torch.Tensor dense, bool multimask);

    /// <summary>Low-resolution logits [B, M, h, w] at the original image size [B, M, H, W], differentiably.</summary>
    torch.Tensor Upscale(torch.Tensor lowRes, (int H, int W) size);

    /// <summary>The file name of the fine-tuned model in a run folder.</summary>
    string ModelFile { get; }

    /// <summary>Writes the model (at <see cref="ModelFile"/> in <paramref name="runDir"/>), atomically.</summary>
    void Save(string runDir, IReadOnlyDictionary<string, string> metadata);
}
