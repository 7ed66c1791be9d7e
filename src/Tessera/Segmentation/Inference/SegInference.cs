using static TorchSharp.torch;

namespace Tessera.Segmentation.Inference;

/// <summary>How a model is run over an image; the name (<see cref="EnumNames"/>) is what options and checkpoints store.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InferenceMode>))]
public enum InferenceMode
{
    /// <summary>The whole image in one pass.</summary>
    [JsonStringEnumMemberName("whole")] Whole,
    /// <summary>Overlapping windows, logits averaged where they overlap (mmsegmentation's slide inference).</summary>
    [JsonStringEnumMemberName("slide")] Slide,
}

/// <summary>Settings of <see cref="SegInference"/>.</summary>
/// <param name="Mode">Whole image or sliding window.</param>
/// <param name="CropHeight">Window height (slide).</param>
/// <param name="CropWidth">Window width (slide).</param>
/// <param name="StrideHeight">Vertical step between windows (slide).</param>
/// <param name="StrideWidth">Horizontal step between windows (slide).</param>
/// <param name="Scales">Test-time scales (multi-scale augmentation); null: 1 only.</param>
/// <param name="Flip">Also run each scale mirrored left to right, and mirror the result back.</param>
public sealed record InferenceOptions(InferenceMode Mode = InferenceMode.Whole, int CropHeight = 512, int CropWidth = 512, int StrideHeight = 341, int StrideWidth = 341,
    IReadOnlyList<double>? Scales = null, bool Flip = false);

/// <summary>
/// Inference as mmsegmentation does it: whole-image or sliding-window logits at the input's
/// resolution, and multi-scale and flip test-time augmentation whose softmax probabilities are averaged
/// at the original resolution. The model maps normalised images [N, 3, h, w] to logits [N, C, h', w'];
/// logits of another size are resized bilinearly (align_corners false) to the input's.
/// </summary>
public static class SegInference
{
    /// <summary>Logits of the whole image in one pass, at the image's size.</summary>
    public static Tensor Whole(Func<Tensor, Tensor> model, Tensor images)
    {
        using var scope = NewDisposeScope();
        return ToSize(model(images), images.shape[2], images.shape[3]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// mmsegmentation's slide_inference: windows of the crop size every stride, the last row and column
    /// moved back to end at the border (⌈(H − crop)/stride⌉ + 1 rows, likewise columns); each window's
    /// logits are added into place and the sum divided by the number of windows covering each pixel.
    /// </summary>
    public static Tensor Slide(Func<Tensor, Tensor> model, Tensor images, int cropHeight, int cropWidth, int strideHeight, int strideWidth)
    {
        if (cropHeight < 1 || cropWidth < 1 || strideHeight < 1 || strideWidth < 1) throw new TesseraUserException(nameof(cropHeight), "crop and stride must be positive");
        using var scope = NewDisposeScope();
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        long rows = Math.Max(h - cropHeight + strideHeight - 1, 0) / strideHeight + 1;
        long cols = Math.Max(w - cropWidth + strideWidth - 1, 0) / strideWidth + 1;
        Tensor? sum = null;
        var count = zeros([1, 1, h, w], ScalarType.Float32, images.device);
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
            {
                using var window = NewDisposeScope();
                long y1 = r * strideHeight, x1 = c * strideWidth;
                long y2 = Math.Min(y1 + cropHeight, h), x2 = Math.Min(x1 + cropWidth, w);
                y1 = Math.Max(y2 - cropHeight, 0);
                x1 = Math.Max(x2 - cropWidth, 0);
                var crop = images[.., .., (int)y1..(int)y2, (int)x1..(int)x2];
                var logits = ToSize(model(crop), y2 - y1, x2 - x1);
                if (sum is null)
                {
                    sum = zeros([n, logits.shape[1], h, w], logits.dtype, logits.device);
                    sum.MoveToOuterDisposeScope();
                }
                sum[.., .., (int)y1..(int)y2, (int)x1..(int)x2].add_(logits);
                count[.., .., (int)y1..(int)y2, (int)x1..(int)x2].add_(1);
            }
        return sum!.div(count).MoveToOuterDisposeScope();
    }

    /// <summary>Logits at the image's size by the chosen mode (no test-time augmentation).</summary>
    public static Tensor Logits(Func<Tensor, Tensor> model, Tensor images, InferenceOptions options) =>
        options.Mode == InferenceMode.Slide
            ? Slide(model, images, options.CropHeight, options.CropWidth, options.StrideHeight, options.StrideWidth)
            : Whole(model, images);

    /// <summary>
    /// Class probabilities [N, C, H, W] at the original resolution: for each scale s the image resized to
    /// (⌊H·s + ½⌋, ⌊W·s + ½⌋) bilinearly, run by the mode (and mirrored, with <see cref="InferenceOptions.Flip"/>),
    /// logits resized back to H × W, softmax over classes, averaged over all passes (mmsegmentation's SegTTAModel).
    /// </summary>
    public static Tensor Probabilities(Func<Tensor, Tensor> model, Tensor images, InferenceOptions options)
    {
        using var scope = NewDisposeScope();
        long h = images.shape[2], w = images.shape[3];
        IReadOnlyList<double> scales = options.Scales is { Count: > 0 } s ? s : [1.0];
        Tensor? total = null;
        int passes = 0;
        foreach (double scale in scales)
        {
            if (!(scale > 0)) throw new TesseraUserException(nameof(options), $"test-time scale {scale} must be positive");
            long sh = Math.Max(1, (long)(h * scale + 0.5)), sw = Math.Max(1, (long)(w * scale + 0.5));
            var scaled = sh == h && sw == w ? images : nn.functional.interpolate(images, [sh, sw], mode: InterpolationMode.Bilinear, align_corners: false);
            foreach (bool flip in options.Flip ? new[] { false, true } : [false])
            {
                using var pass = NewDisposeScope();
                var input = flip ? scaled.flip(3) : scaled;
                var logits = Logits(model, input, options);
                if (flip) logits = logits.flip(3);
                var prob = ToSize(logits, h, w).softmax(1);
                if (total is null) total = prob.MoveToOuterDisposeScope();
                else total.add_(prob);
                passes++;
            }
        }
        return total!.div_(passes).MoveToOuterDisposeScope();
    }

    /// <summary>The predicted class per pixel, int64 [N, H, W]: argmax of <see cref="Probabilities"/>.</summary>
    public static Tensor Predict(Func<Tensor, Tensor> model, Tensor images, InferenceOptions options)
    {
        using var p = Probabilities(model, images, options);
        return p.argmax(1);
    }

    private static Tensor ToSize(Tensor logits, long h, long w) =>
        logits.shape[2] == h && logits.shape[3] == w ? logits : nn.functional.interpolate(logits, [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
}
