using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Segment Anything (Kirillov et al. 2023): image encoder, prompt encoder and mask decoder, with the
/// official pre- and post-processing. Its state dict has the official checkpoints' key names, so
/// <c>sam_vit_{b,l,h}_*.pth</c> and MobileSAM's <c>mobile_sam.pt</c> (TinyViT encoder) load as they are
/// (<see cref="Load(string, torch.Device, SamConfig)"/>).
/// </summary>
public sealed class SamModel : torch.nn.Module
{
    private readonly SamImageEncoder image_encoder;
    private readonly PromptEncoder prompt_encoder;
    private readonly MaskDecoder mask_decoder;

    /// <summary>Per-channel RGB mean on the 0–255 scale (ImageNet's).</summary>
    public static readonly float[] PixelMean = [123.675f, 116.28f, 103.53f];

    /// <summary>Per-channel RGB standard deviation on the 0–255 scale.</summary>
    public static readonly float[] PixelStd = [58.395f, 57.12f, 57.375f];

    /// <summary>Logit threshold of a mask pixel.</summary>
    public const double MaskThreshold = 0.0;

    /// <summary>The configuration.</summary>
    public SamConfig Config { get; }

    /// <summary>The image encoder: <see cref="ImageEncoderViT"/>, or <see cref="TinyVitEncoder"/> for MobileSAM.</summary>
    public SamImageEncoder ImageEncoder => image_encoder;

    /// <summary>The prompt encoder.</summary>
    public PromptEncoder PromptEncoder => prompt_encoder;

    /// <summary>The mask decoder.</summary>
    public MaskDecoder MaskDecoder => mask_decoder;

    /// <summary>Builds a model (random weights) for <paramref name="config"/>.</summary>
    public SamModel(SamConfig config) : base(nameof(SamModel))
    {
        config.Validate();
        Config = config;
        image_encoder = config.TinyVit is null ? new ImageEncoderViT(config) : new TinyVitEncoder(config);
        int grid = config.EmbeddingSize;
        prompt_encoder = new PromptEncoder(config.PromptDim, (grid, grid), (config.ImageSize, config.ImageSize), config.MaskInChannels);
        mask_decoder = new MaskDecoder(config.PromptDim,
            new TwoWayTransformer(config.DecoderDepth, config.PromptDim, config.DecoderHeads, config.DecoderMlpDim, downsampleRate: 2),
            config.MultimaskOutputs, 3, config.IouHeadHiddenDim);
        RegisterComponents();
    }

    /// <summary>
    /// Loads an official checkpoint (.pth as released) or a safetensors file, strictly: a missing,
    /// unexpected or mis-shaped tensor is an error naming it.
    /// </summary>
    /// <exception cref="TesseraFormatException">The file is unreadable or does not fit this configuration.</exception>
    public void LoadWeights(string path)
    {
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        Checkpoint.LoadAny(this, path);
    }

    /// <summary>Saves the weights as safetensors with the configuration in the metadata (<see cref="Tessera.Training.CheckpointMetadata"/>), atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        Checkpoint.Save(this, path, Tessera.Training.CheckpointMetadata.For(Tessera.Training.ModelKind.Sam, ConfigJson(Config), metadata));

    /// <summary>A configuration as recorded in checkpoints (global blocks resolved).</summary>
    internal static string ConfigJson(SamConfig c) => System.Text.Json.JsonSerializer.Serialize(c with { GlobalAttentionBlocks = c.GlobalBlocks });

    /// <summary>
    /// Builds the model a checkpoint holds and loads it: from the model configuration in the metadata of Tessera's
    /// safetensors, else inferred from the tensor shapes (official .pth files; decoder heads, which shapes do
    /// not show, are the official 8). <paramref name="expected"/>, when given, must match.
    /// </summary>
    /// <param name="path">An official <c>sam_vit_{b,l,h}_*.pth</c> as released, or a safetensors file of Tessera.</param>
    /// <param name="device">Where the model goes (default: the CPU).</param>
    /// <param name="expected">A configuration whose size the checkpoint must have (null: any).</param>
    /// <exception cref="TesseraFormatException">Not a SAM checkpoint, or not of the expected size.</exception>
    public static SamModel Load(string path, torch.Device? device = null, SamConfig? expected = null)
    {
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        var tensors = Checkpoint.ReadAny(path);
        try
        {
            SamConfig config;
            string? json = null;
            if (!IsPyTorch(path)) json = Tessera.Training.CheckpointMetadata.ModelConfig(SafeTensors.ReadHeader(path).Metadata, Tessera.Training.ModelKind.Sam);
            config = json is not null
                ? System.Text.Json.JsonSerializer.Deserialize<SamConfig>(json) ?? throw new TesseraFormatException(path, "the SAM configuration in the metadata is empty")
                : Infer(path, tensors);
            if (expected is not null && !SameSize(expected, config))
                throw new TesseraFormatException(path, config.TinyVit is null && expected.TinyVit is null
                    ? $"checkpoint holds a SAM with encoder width {config.EncoderDim} and depth {config.EncoderDepth}, not the requested width {expected.EncoderDim} and depth {expected.EncoderDepth}"
                    : $"checkpoint holds {Describe(config)}, not {Describe(expected)} as requested");
            var model = new SamModel(config);
            var state = model.state_dict();
            if (config.TinyVit is not null) MobileSamCheckpoint.CheckBiasIndexes(path, tensors);
            Checkpoint.Validate(path, state, tensors);
            using (torch.no_grad())
                foreach (var (name, target) in state) target.copy_(tensors[name]);
            if (device is not null) model.to(device);
            return model;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static string Describe(SamConfig c) => c.TinyVit is { } tv
        ? $"a MobileSAM (TinyViT widths {string.Join(", ", tv.EmbedDims)}, depths {string.Join(", ", tv.Depths)})"
        : $"a SAM with encoder width {c.EncoderDim} and depth {c.EncoderDepth}";

    private static bool SameSize(SamConfig a, SamConfig b) =>
        (a.TinyVit, b.TinyVit) switch
        {
            (null, null) => a.EncoderDim == b.EncoderDim && a.EncoderDepth == b.EncoderDepth,
            ({ } x, { } y) => x.SameAs(y),
            _ => false,
        } && a.ImageSize == b.ImageSize && a.PatchSize == b.PatchSize && a.PromptDim == b.PromptDim;

    private static bool IsPyTorch(string path)
    {
        Span<byte> head = stackalloc byte[2];
        using var f = File.OpenRead(path);
        return f.Read(head) == 2 && head[0] == (byte)'P' && head[1] == (byte)'K';
    }

    private static SamConfig Infer(string path, Dictionary<string, torch.Tensor> t)
    {
        long[] Shape(string key) => t.TryGetValue(key, out var v) ? v.shape
            : throw new TesseraFormatException(path, $"not a Segment Anything checkpoint: tensor '{key}' is missing");
        int decoderDepth = 0;
        while (t.ContainsKey($"mask_decoder.transformer.layers.{decoderDepth}.norm1.weight")) decoderDepth++;
        var decoder = new SamConfig(
            PromptDim: (int)Shape("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")[1] * 2, MaskInChannels: (int)Shape("prompt_encoder.mask_downscaling.3.weight")[0],
            DecoderDepth: decoderDepth, DecoderHeads: 8, DecoderMlpDim: (int)Shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
            IouHeadHiddenDim: (int)Shape("mask_decoder.iou_prediction_head.layers.0.weight")[0],
            MultimaskOutputs: (int)Shape("mask_decoder.mask_tokens.weight")[0] - 1);
        if (t.ContainsKey(TinyVitConfig.DetectionKey)) return decoder with { TinyVit = MobileSamCheckpoint.Encoder(path, t) };
        var patch = Shape("image_encoder.patch_embed.proj.weight");
        int dim = (int)patch[0], patchSize = (int)patch[2];
        int grid = (int)Shape("image_encoder.pos_embed")[1];
        int depth = 0;
        while (t.ContainsKey($"image_encoder.blocks.{depth}.norm1.weight")) depth++;
        var global = new List<int>();
        int window = 0, headDim = 0;
        for (int i = 0; i < depth; i++)
        {
            var rel = Shape($"image_encoder.blocks.{i}.attn.rel_pos_h");
            headDim = (int)rel[1];
            if (rel[0] == 2 * grid - 1) global.Add(i);
            else window = (int)(rel[0] + 1) / 2;
        }
        return decoder with
        {
            ImageSize = grid * patchSize,
            PatchSize = patchSize,
            EncoderDim = dim,
            EncoderDepth = depth,
            EncoderHeads = dim / Math.Max(1, headDim),
            GlobalAttentionBlocks = [.. global],
            WindowSize = window == 0 ? 14 : window,
            MlpRatio = (double)Shape("image_encoder.blocks.0.mlp.lin1.weight")[0] / dim,
            PromptDim = (int)Shape("image_encoder.neck.0.weight")[0],
        };
    }

    /// <summary>
    /// Encoder input from a resized image [B, 3, h, w] (0–255 floats, h, w ≤ L): normalised by the pixel
    /// mean and std, then zero-padded at the bottom and right to L × L.
    /// </summary>
    public torch.Tensor Preprocess(torch.Tensor resized)
    {
        using var scope = torch.NewDisposeScope();
        var device = resized.device;
        var mean = torch.tensor(PixelMean, device: device).view(1, 3, 1, 1);
        var std = torch.tensor(PixelStd, device: device).view(1, 3, 1, 1);
        var x = (resized.to(torch.ScalarType.Float32) - mean) / std;
        long h = x.shape[2], w = x.shape[3];
        if (h > Config.ImageSize || w > Config.ImageSize) throw new ArgumentException($"resized image {h}×{w} is larger than {Config.ImageSize}");
        x = torch.nn.functional.pad(x, [0, Config.ImageSize - w, 0, Config.ImageSize - h]);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mask logits at the original image size: bilinear upscaling of the low-resolution logits to L × L,
    /// crop to the resized image, bilinear resize to the original size (align_corners false, no antialias).
    /// </summary>
    public torch.Tensor PostprocessMasks(torch.Tensor lowRes, (int H, int W) inputSize, (int H, int W) originalSize)
    {
        using var scope = torch.NewDisposeScope();
        var m = torch.nn.functional.interpolate(lowRes, size: [Config.ImageSize, Config.ImageSize], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        m = m[.., .., ..inputSize.H, ..inputSize.W];
        m = torch.nn.functional.interpolate(m, size: [originalSize.H, originalSize.W], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        return m.MoveToOuterDisposeScope();
    }
}
