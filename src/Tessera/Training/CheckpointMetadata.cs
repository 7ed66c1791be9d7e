namespace Tessera.Training;

/// <summary>The kind of model a Tessera checkpoint holds (recorded in lower case).</summary>
public enum ModelKind
{
    /// <summary>A diffusion model (U-Net or DiT in a formulation).</summary>
    Diffusion,
    /// <summary>A semantic-segmentation network (GCN-Net, DeepLabV3, FCN).</summary>
    Segmentation,
    /// <summary>Segment Anything.</summary>
    Sam,
}

/// <summary>
/// The metadata key scheme of every Tessera checkpoint: <c>tessera.kind</c> (a <see cref="ModelKind"/>),
/// <c>tessera.model</c> (the model configuration as JSON), and in training checkpoints <c>tessera.training</c>
/// (<see cref="TrainingOptions"/>), <c>tessera.task</c> (the family's own options) and <c>step</c>. Readers also
/// accept the keys of earlier versions (<c>diffusion.config</c>, <c>sam.config</c>, and <c>config</c> with
/// <c>format</c> = tessera.segmentation).
/// </summary>
public static class CheckpointMetadata
{
    /// <summary>Key of the model kind.</summary>
    public const string KindKey = "tessera.kind";
    /// <summary>Key of the model configuration.</summary>
    public const string ModelKey = "tessera.model";
    /// <summary>Key of the training options.</summary>
    public const string TrainingKey = "tessera.training";
    /// <summary>Key of the family's own training options.</summary>
    public const string TaskKey = "tessera.task";

    /// <summary>The metadata naming a model of <paramref name="kind"/> with configuration <paramref name="modelJson"/>, added to <paramref name="extra"/>.</summary>
    public static Dictionary<string, string> For(ModelKind kind, string modelJson, IReadOnlyDictionary<string, string>? extra = null) =>
        new(extra ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [KindKey] = kind.ToString().ToLowerInvariant(),
            [ModelKey] = modelJson,
        };

    /// <summary>The model kind of a checkpoint's metadata (either key scheme), or null.</summary>
    public static ModelKind? Kind(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.TryGetValue(KindKey, out string? k)) return Enum.TryParse(k, ignoreCase: true, out ModelKind kind) ? kind : null;
        if (metadata.ContainsKey("diffusion.config")) return ModelKind.Diffusion;
        if (metadata.ContainsKey("sam.config")) return ModelKind.Sam;
        if (metadata.TryGetValue("format", out string? f) && f == "tessera.segmentation" && metadata.ContainsKey("config")) return ModelKind.Segmentation;
        return null;
    }

    /// <summary>The model configuration JSON of a checkpoint of <paramref name="kind"/> (either key scheme), or null when it is not one.</summary>
    public static string? ModelConfig(IReadOnlyDictionary<string, string> metadata, ModelKind kind)
    {
        if (Kind(metadata) != kind) return null;
        if (metadata.TryGetValue(ModelKey, out string? json)) return json;
        string old = kind switch { ModelKind.Diffusion => "diffusion.config", ModelKind.Sam => "sam.config", _ => "config" };
        return metadata.TryGetValue(old, out json) ? json : null;
    }
}
