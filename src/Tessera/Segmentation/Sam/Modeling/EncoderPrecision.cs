using Tessera.Runtime;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Runs a SAM-family image encoder at a lower <see cref="Precision"/>, as PyTorch's CPU autocast would: the weights are
/// converted once, matrix products and convolutions (and the activations, layer norms and softmax between them) run in the
/// lower format, libtorch's normalisation and softmax kernels accumulate in float32, positional terms are computed in
/// float32 and rounded once, and the encoder's outputs leave it in float32, so the prompt encoder and mask decoder
/// (float32, a small share of the work) read float32. Where each encoder draws the line:
/// <list type="bullet">
/// <item>SAM's ViT (<see cref="ImageEncoderViT"/>): patch embedding, blocks and the neck's convolutions converted; the
/// absolute position table is added in float32, each attention's relative-position terms are computed in float32 and
/// rounded once (<c>VitAttention</c>), the neck's two LayerNorm2d keep float32 weights.</item>
/// <item>MobileSAM's TinyViT (<see cref="TinyVitEncoder"/>): every convolution's batch norm folded into it in float32,
/// then rounded (<see cref="ConvBn"/>); linear layers and layer norms converted; each attention's learned bias stays
/// float32 and is added to the rounded logits in float32, with the softmax in float32 (as autocast's type promotion
/// does), the attention weights rounded for the product with the values; the neck as for the ViT.</item>
/// <item>SAM 2's Hiera and FPN neck (<c>Sam2ImageEncoder</c>): patch embedding, blocks and the neck's lateral
/// convolutions converted; the windowed position embedding is computed from float32 tables and added in float32, then
/// rounded; each lateral output is returned to float32, where the top-down sums and the sine position encodings are
/// computed (the official neck upsamples in float32).</item>
/// </list>
/// </summary>
public static class EncoderPrecision
{
    /// <summary>The precision the encoder's products run at.</summary>
    public static Precision Of(SamImageEncoder encoder) => encoder is IConvertibleEncoder e ? Of(e) : Precision.Float32;

    /// <summary>The precision the encoder's products run at (the patch embedding's weight type).</summary>
    public static Precision Of(ImageEncoderViT encoder)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        return Of((IConvertibleEncoder)encoder);
    }

    internal static Precision Of(IConvertibleEncoder encoder) => encoder.ComputeType switch
    {
        torch.ScalarType.BFloat16 => Precision.BFloat16,
        torch.ScalarType.Float16 => Precision.Float16,
        _ => Precision.Float32,
    };

    /// <summary>
    /// Converts <paramref name="encoder"/>'s weights in place for <paramref name="precision"/> (see the class
    /// summary for what stays float32). Float32 leaves a float32 encoder alone. A lower precision cannot be undone
    /// (the weights are rounded): asking a converted encoder for another precision is an error.
    /// </summary>
    /// <exception cref="TesseraUserException">The encoder was converted to another precision already, or cannot run a lower precision and one is asked (parameter <c>precision</c>).</exception>
    public static void Apply(SamImageEncoder encoder, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (encoder is not IConvertibleEncoder convertible)
        {
            if (precision != Precision.Float32)
                throw new TesseraUserException(nameof(precision), $"{EnumNames.Name(precision)}: the {encoder.Family} encoder runs float32 only");
            return;
        }
        Apply(convertible, precision);
    }

    /// <inheritdoc cref="Apply(SamImageEncoder, Precision)"/>
    public static void Apply(ImageEncoderViT encoder, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        Apply((IConvertibleEncoder)encoder, precision);
    }

    /// <inheritdoc cref="Apply(SamImageEncoder, Precision)"/>
    internal static void Apply(IConvertibleEncoder encoder, Precision precision)
    {
        var current = Of(encoder);
        if (current == precision) return;
        if (current != Precision.Float32)
            throw new TesseraUserException(nameof(precision),
                $"{EnumNames.Name(precision)}: the model's image encoder was converted to {EnumNames.Name(current)} already (its weights are rounded); load the model again for another precision");
        encoder.ConvertWeights(precision.ScalarType());
    }

    /// <summary>
    /// <paramref name="x"/> + <paramref name="position"/> in the position table's type (float32), rounded once to
    /// <paramref name="x"/>'s type: how autocast adds a float32 table to lower-precision activations.
    /// </summary>
    internal static torch.Tensor AddPosition(torch.Tensor x, torch.Tensor position)
    {
        if (x.dtype == position.dtype) return x + position;
        using var wide = x.to(position.dtype);
        using var sum = wide + position;
        return sum.to(x.dtype);
    }

    /// <summary>The type of <paramref name="module"/>'s first parameter.</summary>
    internal static torch.ScalarType WeightType(Module module) => module.parameters().First().dtype;
}
