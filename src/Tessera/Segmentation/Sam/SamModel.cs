using Tessera.IO;
using TorchSharp;

namespace Tessera.Segmentation.Sam;

/// <summary>
/// Segment Anything (Kirillov et al. 2023): image encoder, prompt encoder and mask decoder, with the
/// official pre- and post-processing. Its state dict has the official checkpoints' key names, so
/// <c>sam_vit_{b,l,h}_*.pth</c> load as they are (<see cref="Load"/>).
/// </summary>
public sealed class SamModel : torch.nn.Module
{
    private readonly ImageEncoderViT image_encoder;
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

    /// <summary>The image encoder.</summary>
    public ImageEncoderViT ImageEncoder => image_encoder;

    /// <summary>The prompt encoder.</summary>
    public PromptEncoder PromptEncoder => prompt_encoder;

    /// <summary>The mask decoder.</summary>
    public MaskDecoder MaskDecoder => mask_decoder;

    /// <summary>Builds a model (random weights) for <paramref name="config"/>.</summary>
    public SamModel(SamConfig config) : base(nameof(SamModel))
    {
        config.Validate();
        Config = config;
        image_encoder = new ImageEncoderViT(config);
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
    public void Load(string path) => Checkpoint.LoadAny(this, path);

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
