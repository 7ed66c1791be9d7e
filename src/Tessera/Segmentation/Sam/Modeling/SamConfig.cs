namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// The sizes of a Segment Anything model (Kirillov et al. 2023). <see cref="VitB"/>, <see cref="VitL"/> and
/// <see cref="VitH"/> are the released checkpoints' configurations; any other size may be built for training.
/// </summary>
/// <param name="ImageSize">Long side the image is resized and padded to (1024 for the released models).</param>
/// <param name="PatchSize">Patch size of the ViT encoder (16).</param>
/// <param name="EncoderDim">Encoder width (768 / 1024 / 1280).</param>
/// <param name="EncoderDepth">Number of encoder blocks (12 / 24 / 32).</param>
/// <param name="EncoderHeads">Encoder attention heads (12 / 16 / 16).</param>
/// <param name="GlobalAttentionBlocks">Blocks with global attention; the others attend inside windows.</param>
/// <param name="WindowSize">Window side of windowed blocks, in tokens (14).</param>
/// <param name="MlpRatio">Encoder MLP hidden width over encoder width (4).</param>
/// <param name="PromptDim">Width of the prompt encoder, image embedding and mask decoder (256).</param>
/// <param name="MaskInChannels">Channels of the dense mask branch (16).</param>
/// <param name="DecoderDepth">Two-way transformer layers (2).</param>
/// <param name="DecoderHeads">Decoder attention heads (8).</param>
/// <param name="DecoderMlpDim">Decoder MLP hidden width (2048).</param>
/// <param name="IouHeadHiddenDim">IoU head hidden width (256).</param>
/// <param name="MultimaskOutputs">Masks returned in multimask mode (3; one more mask token is used for the single mask).</param>
/// <param name="TinyVit">MobileSAM: a TinyViT image encoder of these sizes instead of the ViT (whose Encoder* sizes are then unused).</param>
public sealed record SamConfig(
    int ImageSize = 1024,
    int PatchSize = 16,
    int EncoderDim = 768,
    int EncoderDepth = 12,
    int EncoderHeads = 12,
    int[]? GlobalAttentionBlocks = null,
    int WindowSize = 14,
    double MlpRatio = 4.0,
    int PromptDim = 256,
    int MaskInChannels = 16,
    int DecoderDepth = 2,
    int DecoderHeads = 8,
    int DecoderMlpDim = 2048,
    int IouHeadHiddenDim = 256,
    int MultimaskOutputs = 3,
    TinyVitConfig? TinyVit = null)
{
    /// <summary>Blocks with global attention (default: the last block of each quarter of the depth).</summary>
    public int[] GlobalBlocks => GlobalAttentionBlocks ?? [.. Enumerable.Range(1, 4).Select(i => i * EncoderDepth / 4 - 1)];

    /// <summary>Side of the image-embedding grid (ImageSize / PatchSize: 64 for the released models).</summary>
    public int EmbeddingSize => ImageSize / PatchSize;

    /// <summary>SAM ViT-B (sam_vit_b_01ec64.pth): 93,735,472 parameters.</summary>
    public static SamConfig VitB { get; } = new(EncoderDim: 768, EncoderDepth: 12, EncoderHeads: 12, GlobalAttentionBlocks: [2, 5, 8, 11]);

    /// <summary>SAM ViT-L (sam_vit_l_0b3195.pth): 312,342,832 parameters.</summary>
    public static SamConfig VitL { get; } = new(EncoderDim: 1024, EncoderDepth: 24, EncoderHeads: 16, GlobalAttentionBlocks: [5, 11, 17, 23]);

    /// <summary>SAM ViT-H (sam_vit_h_4b8939.pth): 641,090,608 parameters.</summary>
    public static SamConfig VitH { get; } = new(EncoderDim: 1280, EncoderDepth: 32, EncoderHeads: 16, GlobalAttentionBlocks: [7, 15, 23, 31]);

    /// <summary>MobileSAM (mobile_sam.pt): the TinyViT-5M encoder with SAM's prompt encoder and mask decoder, 10,130,092 parameters.</summary>
    public static SamConfig MobileSam { get; } = new(TinyVit: TinyVitConfig.MobileSam);

    /// <summary>
    /// A small SAM for <paramref name="canvas"/>-pixel scenes trained from scratch: 16 × 16 tokens (patch side
    /// canvas / 16), encoder and prompt width <paramref name="width"/> with heads of 32 channels, <paramref name="depth"/>
    /// encoder blocks in windows of 8 with global attention in every second block (1, 3, …), a 64-channel mask
    /// branch, decoder MLP 4 × width. <c>Small()</c> is the 64 px, width 128, 4-block model of
    /// <c>tessera sam train</c>. Channel counts stay multiples of 16 (docs/known-issues.md: narrow convolutions on oneDNN).
    /// </summary>
    /// <exception cref="TesseraUserException">The width is not a positive multiple of 64, the depth not a positive even number, or the canvas below 32.</exception>
    public static SamConfig Small(int canvas = 64, int width = 128, int depth = 4)
    {
        if (width < 64 || width % 64 != 0) throw new TesseraUserException(nameof(width), $"{width} is not a positive multiple of 64");
        if (depth < 2 || depth % 2 != 0) throw new TesseraUserException(nameof(depth), $"{depth} is not a positive multiple of 2");
        if (canvas < 32) throw new TesseraUserException(nameof(canvas), $"{canvas} is below 32");
        return new SamConfig(ImageSize: canvas, PatchSize: canvas / 16, EncoderDim: width, EncoderDepth: depth, EncoderHeads: width / 32,
            GlobalAttentionBlocks: [.. Enumerable.Range(1, depth / 2).Select(i => 2 * i - 1)], WindowSize: 8, PromptDim: width,
            MaskInChannels: 64, DecoderDepth: 2, DecoderHeads: width / 32, DecoderMlpDim: 4 * width, IouHeadHiddenDim: width);
    }

    /// <summary>A configuration by name: vit_b, vit_l, vit_h (also b, l, h), vit_t (MobileSAM; also mobile_sam).</summary>
    /// <exception cref="TesseraUserException">Unknown name.</exception>
    public static SamConfig FromName(string name) => name.ToLowerInvariant().Replace("-", "_") switch
    {
        "vit_b" or "b" => VitB,
        "vit_l" or "l" => VitL,
        "vit_h" or "h" => VitH,
        "vit_t" or "t" or "mobile_sam" or "mobilesam" => MobileSam,
        _ => throw new TesseraUserException(nameof(name), $"unknown SAM size '{name}' (expected vit_b, vit_l, vit_h or vit_t)"),
    };

    /// <summary>Checks that the sizes fit together.</summary>
    /// <exception cref="TesseraUserException">A size that cannot work.</exception>
    public void Validate()
    {
        if (ImageSize % PatchSize != 0) throw new TesseraUserException(nameof(PatchSize), $"image size {ImageSize} is not a multiple of the patch size {PatchSize}");
        if (EncoderDim % EncoderHeads != 0) throw new TesseraUserException(nameof(EncoderHeads), $"encoder width {EncoderDim} does not split into {EncoderHeads} heads");
        if (PromptDim % DecoderHeads != 0 || PromptDim % 2 != 0 || (PromptDim / 2) % DecoderHeads != 0)
            throw new TesseraUserException(nameof(DecoderHeads), $"prompt width {PromptDim} does not split into {DecoderHeads} heads at full and half width");
        if (PromptDim % 8 != 0) throw new TesseraUserException(nameof(PromptDim), $"prompt width {PromptDim} must be a multiple of 8 (the upscaler divides it by 4 and 8)");
        if (MaskInChannels % 4 != 0) throw new TesseraUserException(nameof(MaskInChannels), $"mask channels {MaskInChannels} must be a multiple of 4");
        if (GlobalBlocks.Any(b => b < 0 || b >= EncoderDepth)) throw new TesseraUserException(nameof(GlobalAttentionBlocks), "a global-attention block index is outside the encoder");
        TinyVit?.Validate(ImageSize, EmbeddingSize);
    }
}
