using Tessera.Runtime;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Runs SAM's image encoder at a lower <see cref="Precision"/>, as PyTorch's CPU autocast would: the patch embedding,
/// the transformer blocks (their linear layers, attention logits, softmax and the activations between them) and the
/// neck's convolutions in the lower format; the absolute position table is kept and added in float32, each
/// attention's relative-position terms are computed in float32 and rounded once (<c>VitAttention</c>), layer norms and
/// softmax accumulate in float32 (libtorch's kernels do for bfloat16/float16 inputs), and the neck's two LayerNorm2d
/// keep float32 weights, so the embedding the decoder reads is float32. The prompt encoder and mask decoder stay float32 (a small share of the
/// work), so the mask logits are float32.
/// </summary>
public static class EncoderPrecision
{
    /// <summary>The precision the encoder's products run at: a ViT's patch embedding's weight type; other encoders run float32.</summary>
    public static Precision Of(SamImageEncoder encoder) => encoder is ImageEncoderViT vit ? Of(vit) : Precision.Float32;

    /// <summary>The precision the encoder's products run at (the patch embedding's weight type).</summary>
    public static Precision Of(ImageEncoderViT encoder)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        return Child(encoder, "patch_embed").parameters().First().dtype switch
        {
            torch.ScalarType.BFloat16 => Precision.BFloat16,
            torch.ScalarType.Float16 => Precision.Float16,
            _ => Precision.Float32,
        };
    }

    /// <summary>
    /// Converts <paramref name="encoder"/>'s weights in place for <paramref name="precision"/> (see the class
    /// summary for what stays float32). Float32 leaves a float32 encoder alone. A lower precision cannot be undone
    /// (the weights are rounded): asking a converted encoder for another precision is an error.
    /// </summary>
    /// <exception cref="TesseraUserException">The encoder was converted to another precision already, or is not a ViT and a lower precision is asked (parameter <c>precision</c>).</exception>
    public static void Apply(SamImageEncoder encoder, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (encoder is not ImageEncoderViT vit)
        {
            if (precision != Precision.Float32)
                throw new TesseraUserException(nameof(precision), $"{EnumNames.Name(precision)}: lower precisions are available for SAM's ViT encoders; the {encoder.Family} encoder runs float32");
            return;
        }
        Apply(vit, precision);
    }

    /// <inheritdoc cref="Apply(SamImageEncoder, Precision)"/>
    public static void Apply(ImageEncoderViT encoder, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        var current = Of(encoder);
        if (current == precision) return;
        if (current != Precision.Float32)
            throw new TesseraUserException(nameof(precision),
                $"{EnumNames.Name(precision)}: the model's image encoder was converted to {EnumNames.Name(current)} already (its weights are rounded); load the model again for another precision");
        var type = precision.ScalarType();
        Child(encoder, "patch_embed").to(type);
        Child(encoder, "blocks").to(type);
        foreach (var layer in Child(encoder, "neck").children())
            if (layer is not LayerNorm2d) layer.to(type);
    }

    private static Module Child(Module module, string name) =>
        module.named_children().First(c => c.name == name).module;
}
