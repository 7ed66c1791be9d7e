using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Segmentation.Sam2.Inference;

/// <summary>
/// Interactive use of SAM 2 on images, as the official <c>SAM2ImagePredictor</c>: <see cref="SetImage"/> (or
/// <see cref="SetImageBatch"/>) runs the image encoder once; prompts are then answered by the prompt encoder and mask
/// decoder. Its pre- and post-processing are the official ones: the image resized to the square model size (not the
/// longest side) and normalised, prompts scaled by size/width and size/height, a box given to the prompt encoder as
/// two corner points ahead of the clicks, low-resolution logits upscaled straight to the image size and thresholded
/// at <see cref="MaskThreshold"/>, the returned low-resolution logits clamped to ±32.
/// </summary>
/// <remarks>
/// <see cref="MaxHoleArea"/> and <see cref="MaxSprinkleArea"/> are accepted as the official predictor's
/// <c>max_hole_area</c>/<c>max_sprinkle_area</c>. The official code fills holes and removes sprinkles with a
/// connected-components kernel of its CUDA extension (<c>sam2._C</c>); where the extension is absent — every CPU
/// install of the package as released — it warns and skips the step, returning the masks unchanged. This predictor
/// does what the official code does without the extension: it skips the step (<see cref="PostprocessingSkipped"/> says so).
/// </remarks>
public sealed class Sam2Predictor : ISamPredictor
{
    private readonly Sam2Model _model;
    private Sam2ImageFeatures? _features;
    private (int H, int W)[] _sizes = [];

    /// <summary>
    /// Creates a predictor over <paramref name="model"/> (put in evaluation mode) with the official settings. A
    /// <paramref name="precision"/> below float32 converts the model's image encoder in place (Hiera and its neck;
    /// <see cref="Sam.Modeling.EncoderPrecision"/>; issue 28); the features it gives, the prompt encoder and the mask decoder stay float32.
    /// </summary>
    /// <exception cref="TesseraUserException">A negative area or a non-finite threshold, the encoder converted to another precision already, or float16 on a CPU without float16 instructions (the parameter named).</exception>
    public Sam2Predictor(Sam2Model model, double maskThreshold = 0.0, double maxHoleArea = 0.0, double maxSprinkleArea = 0.0, Runtime.Precision precision = Runtime.Precision.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        Runtime.PrecisionInfo.Require(precision, model.NoMemoryEmbedding.device, nameof(precision));
        if (!double.IsFinite(maskThreshold)) throw new TesseraUserException(nameof(maskThreshold), $"{maskThreshold}; expected a number");
        if (!(maxHoleArea >= 0)) throw new TesseraUserException(nameof(maxHoleArea), $"{maxHoleArea}; expected an area of 0 pixels or more");
        if (!(maxSprinkleArea >= 0)) throw new TesseraUserException(nameof(maxSprinkleArea), $"{maxSprinkleArea}; expected an area of 0 pixels or more");
        _model = model;
        _model.eval();
        MaskThreshold = maskThreshold;
        MaxHoleArea = maxHoleArea;
        MaxSprinkleArea = maxSprinkleArea;
        model.ImageEncoder.ApplyPrecision(precision);
    }

    /// <summary>The precision the image encoder runs at.</summary>
    public Runtime.Precision Precision => _model.ImageEncoder.Precision;

    /// <summary>The model.</summary>
    public Sam2Model Model => _model;

    /// <inheritdoc />
    public SamFamily Family => SamFamily.Sam2;

    /// <inheritdoc />
    public double MaskThreshold { get; }

    /// <summary>The official <c>max_hole_area</c> (see the remarks: skipped, as without the official CUDA extension).</summary>
    public double MaxHoleArea { get; }

    /// <summary>The official <c>max_sprinkle_area</c> (see the remarks: skipped, as without the official CUDA extension).</summary>
    public double MaxSprinkleArea { get; }

    /// <summary>Whether hole filling or sprinkle removal was asked for and is skipped, as the official code skips it without its CUDA extension.</summary>
    public bool PostprocessingSkipped => MaxHoleArea > 0 || MaxSprinkleArea > 0;

    /// <inheritdoc />
    public torch.Device Device => _model.NoMemoryEmbedding.device;

    /// <inheritdoc />
    public (int H, int W) MaskInputSize => _model.PromptEncoder.MaskInputSize;

    /// <inheritdoc />
    public (int H, int W) OriginalSize => _sizes.Length > 0 ? _sizes[0] : throw new InvalidOperationException("call SetImage first");

    /// <summary>Original sizes (h, w) of the images set (one after <see cref="SetImage"/>).</summary>
    public IReadOnlyList<(int H, int W)> OriginalSizes => _sizes;

    /// <summary>The features of the images set (<see cref="Sam2ImageFeatures"/>; read them, never write to them).</summary>
    public Sam2ImageFeatures Features => _features ?? throw new InvalidOperationException("call SetImage first");

    /// <inheritdoc />
    public void SetImage(torch.Tensor rgb, bool channelsLast = false) => SetImageBatch([channelsLast ? rgb.permute(2, 0, 1) : rgb]);

    /// <summary>
    /// Sets a batch of images (uint8 RGB [3, H, W] each, any sizes), as the official <c>set_image_batch</c>: one encoder pass
    /// over them all; <see cref="PredictBatch"/> then takes one prompt per image.
    /// </summary>
    public void SetImageBatch(IReadOnlyList<torch.Tensor> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new TesseraUserException(nameof(images), "no image; expected at least one");
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        using var scope = torch.NewDisposeScope();
        var device = Device;
        var input = torch.cat([.. images.Select(i => _model.Preprocess(i, device))], 0);
        using (torch.no_grad())
        {
            var features = _model.ForwardImage(input);
            _features?.Dispose();
            _features = features.MoveToOuterDisposeScope();
        }
        _sizes = [.. images.Select(i => ((int)i.shape[1], (int)i.shape[2]))];
    }

    /// <summary>
    /// Sets features computed earlier (<see cref="Sam2Model.ForwardImage"/> of images of the original sizes
    /// <paramref name="sizes"/>, one per image), as from an embedding cache; the predictor takes ownership of them.
    /// </summary>
    /// <exception cref="TesseraUserException">Not one size per image of the features.</exception>
    public void SetFeatures(Sam2ImageFeatures features, IReadOnlyList<(int H, int W)> sizes)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Count != features.Count) throw new TesseraUserException(nameof(sizes), $"{sizes.Count} sizes for {features.Count} images; expected one per image");
        _features?.Dispose();
        _features = features;
        _sizes = [.. sizes];
    }

    /// <inheritdoc />
    public void Check(SamPrompt prompt) => prompt.Check(OriginalSize, MaskInputSize);

    /// <inheritdoc />
    public (double X, double Y) ToModelFrame(double x, double y) => ToModelFrame(x, y, OriginalSize);

    // SAM2Transforms.transform_coords with normalize: x / w · S and y / h · S, in float32 as the official tensors are.
    private (double X, double Y) ToModelFrame(double x, double y, (int H, int W) size)
    {
        float s = _model.ImageSize;
        return ((float)x / size.W * s, (float)y / size.H * s);
    }

    /// <inheritdoc />
    public SamPrediction Predict(SamPrompt prompt, bool multimask = true, bool returnLogits = false) =>
        PredictOn(0, prompt, multimask, returnLogits);

    /// <summary>
    /// One prompt per image of <see cref="SetImageBatch"/> (null: no prompt, as the official <c>predict_batch</c> passes
    /// None), each answered on its image.
    /// </summary>
    /// <exception cref="TesseraUserException">Not one prompt per image, or a prompt that does not fit its image.</exception>
    public IReadOnlyList<SamPrediction> PredictBatch(IReadOnlyList<SamPrompt?> prompts, bool multimask = true, bool returnLogits = false)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count != _sizes.Length) throw new TesseraUserException(nameof(prompts), $"{prompts.Count} prompts for {_sizes.Length} images; expected one per image");
        var results = new List<SamPrediction>();
        try
        {
            for (int i = 0; i < prompts.Count; i++) results.Add(PredictOn(i, prompts[i] ?? new SamPrompt(), multimask, returnLogits));
            return results;
        }
        catch
        {
            foreach (var r in results) r.Dispose();
            throw;
        }
    }

    private SamPrediction PredictOn(int image, SamPrompt prompt, bool multimask, bool returnLogits)
    {
        prompt.Check(_sizes[image], MaskInputSize);
        using var scope = torch.NewDisposeScope();
        var t = prompt.ToModelFrame((x, y) => ToModelFrame(x, y, _sizes[image]), MaskInputSize, Device);
        var (masks, iou, lowRes) = PredictTorch(t.Coords, t.Labels, t.Box, t.Mask, multimask, returnLogits, image);
        return SamPrediction.First(masks, iou, lowRes);
    }

    /// <summary>
    /// Several prompts on one image at once (the official <c>predict</c> with batched arrays: one object per prompt).
    /// They must be alike — the same number of points, all or none with a box, all or none with a mask input.
    /// Returns masks [B, C, H, W] (bool, or logits), IoUs [B, C] and low-resolution logits [B, C, h, w] (clamped to ±32).
    /// </summary>
    /// <exception cref="TesseraUserException">No prompt, prompts not alike, or one that does not fit the image.</exception>
    public (torch.Tensor Masks, torch.Tensor Iou, torch.Tensor LowRes) PredictMany(IReadOnlyList<SamPrompt> prompts, bool multimask = true, bool returnLogits = false, int image = 0)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new TesseraUserException(nameof(prompts), "no prompt; expected at least one");
        var first = prompts[0];
        foreach (var p in prompts)
        {
            if ((p.Points?.Count ?? 0) != (first.Points?.Count ?? 0) || p.Box.HasValue != first.Box.HasValue || (p.MaskInput is null) != (first.MaskInput is null))
                throw new TesseraUserException(nameof(prompts), "prompts of one batch must be alike: the same number of points, all or none with a box, all or none with a mask input");
            p.Check(_sizes[image], MaskInputSize);
        }
        using var scope = torch.NewDisposeScope();
        var parts = prompts.Select(p => p.ToModelFrame((x, y) => ToModelFrame(x, y, _sizes[image]), MaskInputSize, Device)).ToList();
        torch.Tensor? Cat(Func<(torch.Tensor? Coords, torch.Tensor? Labels, torch.Tensor? Box, torch.Tensor? Mask), torch.Tensor?> pick) =>
            pick(parts[0]) is null ? null : torch.cat([.. parts.Select(x => pick(x)!)], 0);
        var (masks, iou, lowRes) = PredictTorch(Cat(x => x.Coords), Cat(x => x.Labels), Cat(x => x.Box), Cat(x => x.Mask), multimask, returnLogits, image);
        return (masks.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope(), lowRes.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The official <c>_predict</c> on prompts already in the model frame: points [B, N, 2] with labels [B, N], boxes as
    /// corners [B, 2, 2] (or [B, 4]), mask inputs [B, 1, h, w]; any may be null. Returns masks [B, C, H, W] at the original size
    /// of image <paramref name="image"/> (bool, or logits with <paramref name="returnLogits"/>), IoUs [B, C] and the
    /// low-resolution logits [B, C, h, w] clamped to ±32.
    /// </summary>
    public (torch.Tensor Masks, torch.Tensor Iou, torch.Tensor LowRes) PredictTorch(torch.Tensor? coords, torch.Tensor? labels, torch.Tensor? boxes, torch.Tensor? masks, bool multimask = true, bool returnLogits = false, int image = 0)
    {
        using var scope = torch.NewDisposeScope();
        var (lowRes, iou) = Decode(coords, labels, boxes, masks, multimask, image);
        var full = Upscale(lowRes, _sizes[image]);
        if (!returnLogits)
        {
            using var threshold = MaskThreshold.ToScalar();
            full = full.gt(threshold);
        }
        return (full.MoveToOuterDisposeScope(), iou.MoveToOuterDisposeScope(), lowRes.clamp(-32.0, 32.0).MoveToOuterDisposeScope());
    }

    // Prompt encoder and mask decoder: a box's corners (labels 2, 3) go ahead of the points, and the prompt encoder pads
    // them with a "not a point" as it pads any points given without a box; low-resolution logits [B, C, h, w] and IoUs [B, C].
    private (torch.Tensor LowRes, torch.Tensor Iou) Decode(torch.Tensor? coords, torch.Tensor? labels, torch.Tensor? boxes, torch.Tensor? masks, bool multimask, int image)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        if ((coords is null) != (labels is null)) throw new ArgumentException("point coordinates and labels go together");
        if (coords is not null) coords = coords.to(torch.ScalarType.Float32);
        if (boxes is not null)
        {
            var corners = boxes.to(torch.ScalarType.Float32).reshape(-1, 2, 2);
            var cornerLabels = torch.tensor(new long[] { 2, 3 }, device: corners.device).unsqueeze(0).expand(corners.shape[0], 2);
            coords = coords is null ? corners : torch.cat([corners, coords], 1);
            labels = labels is null ? cornerLabels : torch.cat([cornerLabels, labels!.to(torch.ScalarType.Int64)], 1);
        }
        var (sparse, dense) = _model.PromptEncoder.forward(coords, labels, null, masks);
        var features = Features.Select(image);
        using var pred = _model.MaskDecoder.forward(features.ImageEmbedding, _model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask, features.HighRes);
        return (pred.Masks.clone().MoveToOuterDisposeScope(), pred.Iou.clone().MoveToOuterDisposeScope());
    }

    /// <inheritdoc />
    /// <remarks>The model frame's <paramref name="coords"/> are read as float32, as the official tensors are.</remarks>
    public (torch.Tensor LowRes, torch.Tensor Iou) PredictLowRes(torch.Tensor coords, torch.Tensor labels, bool multimask = true, torch.Tensor? maskInput = null) =>
        Decode(coords, labels, null, maskInput, multimask, 0);

    /// <inheritdoc />
    public torch.Tensor UpscaleLogits(torch.Tensor lowRes) => Upscale(lowRes, OriginalSize);

    // SAM2Transforms.postprocess_masks without the CUDA extension: hole filling and sprinkle removal skipped (see the
    // remarks), then a bilinear resize (align_corners false) of the low-resolution logits straight to the image size.
    private static torch.Tensor Upscale(torch.Tensor lowRes, (int H, int W) size)
    {
        using var _ = torch.no_grad();
        return torch.nn.functional.interpolate(lowRes.to(torch.ScalarType.Float32), size: [size.H, size.W], mode: torch.InterpolationMode.Bilinear, align_corners: false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _features?.Dispose();
        _features = null;
    }
}
