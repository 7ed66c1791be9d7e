using Tessera.Segmentation.Sam.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's mask downsampler (<c>MaskDownSampler</c>; Ravi et al. 2024, §4 "Memory encoder"): convolutions of stride s,
/// each multiplying the channels by s² and followed by a channel layer norm and GELU, until the mask is at the image
/// features' stride, then a 1 × 1 projection to their width. Keys <c>encoder.{i}</c> as the official Sequential.
/// </summary>
public sealed class Sam2MaskDownSampler : Module<torch.Tensor, torch.Tensor>
{
    private readonly Sequential encoder;

    /// <summary>Creates the downsampler for <paramref name="config"/>.</summary>
    public Sam2MaskDownSampler(Sam2MemoryConfig config) : base(nameof(Sam2MaskDownSampler))
    {
        var modules = new List<(string, Module<torch.Tensor, torch.Tensor>)>();
        long inCh = 1;
        int s = config.DownsamplerStride;
        for (int i = 0; i < config.DownsamplerLayers; i++)
        {
            long outCh = inCh * s * s;
            modules.Add(($"{3 * i}", Conv2d(inCh, outCh, config.DownsamplerKernel, stride: s, padding: config.DownsamplerKernel / 2)));
            modules.Add(($"{3 * i + 1}", new LayerNorm2d(outCh)));
            modules.Add(($"{3 * i + 2}", GELU()));
            inCh = outCh;
        }
        modules.Add(($"{3 * config.DownsamplerLayers}", Conv2d(inCh, config.Dim, 1)));
        encoder = Sequential(modules);
        RegisterComponents();
    }

    /// <summary>Mask probabilities [B, 1, H, W] → features [B, C, H/s^n, W/s^n].</summary>
    public override torch.Tensor forward(torch.Tensor masks) => encoder.forward(masks);
}
