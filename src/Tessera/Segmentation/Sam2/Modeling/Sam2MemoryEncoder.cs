using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's memory encoder (Ravi et al. 2024, §4 "Memory encoder"): the predicted mask, downsampled by
/// <see cref="Sam2MaskDownSampler"/>, is added to the projected image features of its frame, fused by
/// <see cref="Sam2Fuser"/> and projected to the memory width; the memory's position encoding is the 2-D sine grid
/// (<see cref="PositionEmbeddingSine"/>). Parameter names are the official ones under <c>memory_encoder.</c>.
/// </summary>
public sealed class Sam2MemoryEncoder : Module<torch.Tensor, torch.Tensor, (torch.Tensor Features, torch.Tensor Pos)>
{
    private readonly Sam2MaskDownSampler mask_downsampler;
    private readonly Conv2d pix_feat_proj;
    private readonly Sam2Fuser fuser;
    private readonly Conv2d? out_proj;
    private readonly PositionEmbeddingSine position_encoding;

    /// <summary>Creates the encoder for <paramref name="config"/>.</summary>
    public Sam2MemoryEncoder(Sam2MemoryConfig config) : base(nameof(Sam2MemoryEncoder))
    {
        mask_downsampler = new Sam2MaskDownSampler(config);
        pix_feat_proj = Conv2d(config.Dim, config.Dim, 1);
        fuser = new Sam2Fuser(config.Dim, config.FuserLayers, config.FuserKernel);
        if (config.MemoryDim != config.Dim) out_proj = Conv2d(config.Dim, config.MemoryDim, 1);
        position_encoding = new PositionEmbeddingSine(config.MemoryDim);
        RegisterComponents();
    }

    /// <summary>Memory features [B, C_mem, h, w] and their position encoding from image features [B, C, h, w] and mask logits [B, 1, H, W].</summary>
    public override (torch.Tensor Features, torch.Tensor Pos) forward(torch.Tensor pixFeatures, torch.Tensor maskLogits) =>
        Forward(pixFeatures, maskLogits, skipMaskSigmoid: false);

    /// <summary>As <see cref="forward"/>; with <paramref name="skipMaskSigmoid"/> the masks are taken as given (already probabilities).</summary>
    public (torch.Tensor Features, torch.Tensor Pos) Forward(torch.Tensor pixFeatures, torch.Tensor masks, bool skipMaskSigmoid)
    {
        using var scope = torch.NewDisposeScope();
        var m = mask_downsampler.forward(skipMaskSigmoid ? masks : torch.sigmoid(masks));
        // x = Fuser(Proj(features) + Down(mask))
        var x = fuser.forward(pix_feat_proj.forward(pixFeatures.to(m.device)) + m);
        if (out_proj is not null) x = out_proj.forward(x);
        var pos = position_encoding.forward(x);
        return (x.MoveToOuterDisposeScope(), pos.MoveToOuterDisposeScope());
    }

    /// <summary>The memories' position encoding [1, C_mem, <paramref name="h"/>, <paramref name="w"/>] (the same for every frame).</summary>
    public torch.Tensor PositionMap(long h, long w, torch.Device? device = null) => position_encoding.Map(h, w, device);

    /// <summary>The mask downsampler alone.</summary>
    public torch.Tensor DownsampleMask(torch.Tensor maskProbabilities) => mask_downsampler.forward(maskProbabilities);
}
