namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// The image encoder of a Segment Anything model: preprocessed images [B, 3, L, L] to the image embedding
/// [B, PromptDim, L/16, L/16] that the prompt encoder and mask decoder read. SAM's ViT
/// (<see cref="ImageEncoderViT"/>) and MobileSAM's TinyViT (<see cref="TinyVitEncoder"/>) implement it;
/// which one a checkpoint holds is read from its weights (<see cref="SamModel.Load(string, torch.Device, SamConfig)"/>).
/// </summary>
public abstract class SamImageEncoder : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    /// <summary>Creates the module named <paramref name="name"/>.</summary>
    protected SamImageEncoder(string name) : base(name) { }

    /// <summary>A short name of the encoder family for logs and model descriptions ("vit", "tiny_vit").</summary>
    public abstract string Family { get; }

    /// <summary>
    /// SAM's neck, shared by every encoder: 1×1 convolution to <paramref name="outDim"/>, LayerNorm2d, 3×3 convolution,
    /// LayerNorm2d, no biases (segment-anything image_encoder.py; MobileSAM's tiny_vit_sam.py), keys <c>neck.0</c>–<c>neck.3</c>.
    /// </summary>
    protected static Sequential Neck(int inDim, int outDim) => torch.nn.Sequential(
        ("0", torch.nn.Conv2d(inDim, outDim, 1, bias: false)),
        ("1", new LayerNorm2d(outDim)),
        ("2", torch.nn.Conv2d(outDim, outDim, 3, padding: 1, bias: false)),
        ("3", new LayerNorm2d(outDim)));

    /// <summary>Converts the neck's convolutions to <paramref name="type"/>; its LayerNorm2d keep float32 weights (<see cref="EncoderPrecision"/>).</summary>
    private protected static void ConvertNeck(Sequential neck, torch.ScalarType type)
    {
        foreach (var layer in neck.children())
            if (layer is not LayerNorm2d) layer.to(type);
    }

    /// <summary>
    /// Runs the neck on a channels-first map, each layer on its input converted to the layer's weight type, so that a
    /// converted neck (<see cref="ConvertNeck"/>) ends in its float32 LayerNorm2d and the embedding is float32.
    /// </summary>
    private protected static torch.Tensor RunNeck(Sequential neck, torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var layer in neck.children().Cast<torch.nn.Module<torch.Tensor, torch.Tensor>>())
            x = layer.forward(x.to(EncoderPrecision.WeightType(layer)));
        return x.MoveToOuterDisposeScope();
    }
}
