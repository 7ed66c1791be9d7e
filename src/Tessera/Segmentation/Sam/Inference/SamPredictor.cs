using Tessera.Layers;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>A point prompt in original-image pixel coordinates; <see cref="Positive"/> false marks background.</summary>
public readonly record struct SamPoint(double X, double Y, bool Positive = true);

/// <summary>A box prompt (x0, y0, x1, y1) in original-image pixel coordinates.</summary>
public readonly record struct SamBox(double X0, double Y0, double X1, double Y1);

/// <summary>
/// The prompts of one prediction: points, an optional box and an optional low-resolution mask
/// (logits [1, 4h, 4w] or [1, 1, 4h, 4w], e.g. the best low-res output of an earlier prediction).
/// </summary>
public sealed record SamPrompt(IReadOnlyList<SamPoint>? Points = null, SamBox? Box = null, torch.Tensor? MaskInput = null)
{
    /// <summary>
    /// Validates the prompt against an image of <paramref name="image"/> (h, w): a point outside it, a box with x1 &lt; x0
    /// or y1 &lt; y0 or outside it, a mask input not of the decoder's low-resolution size <paramref name="maskInput"/>.
    /// </summary>
    /// <exception cref="TesseraUserException">The prompt does not fit; the message names the prompt's parameter.</exception>
    public void Check((int H, int W) image, (int H, int W) maskInput)
    {
        var (h, w) = image;
        if (MaskInput is { } m)
        {
            var (mh, mw) = maskInput;
            if (m.numel() != (long)mh * mw)
                throw new TesseraUserException(nameof(MaskInput), $"shape [{string.Join(", ", m.shape)}]; expected the {mh}×{mw} low-resolution logits of an earlier prediction");
        }
        foreach (var p in Points ?? [])
            if (!(p.X >= 0 && p.X <= w && p.Y >= 0 && p.Y <= h))
                throw new TesseraUserException(nameof(Points), $"{p.X},{p.Y} is outside the {w}×{h} image");
        if (Box is { } b)
        {
            if (!(b.X1 >= b.X0 && b.Y1 >= b.Y0)) throw new TesseraUserException(nameof(Box), $"{b.X0},{b.Y0},{b.X1},{b.Y1}: x1 < x0 or y1 < y0");
            if (b.X0 < 0 || b.Y0 < 0 || b.X1 > w || b.Y1 > h) throw new TesseraUserException(nameof(Box), $"{b.X0},{b.Y0},{b.X1},{b.Y1} is outside the {w}×{h} image");
        }
    }

    /// <summary>
    /// The prompt as a batch of one in the model frame (float32 on <paramref name="device"/>): point coordinates [1, N, 2] and
    /// labels [1, N] (1 object, 0 background), the box's corners [1, 2, 2], the mask input [1, 1, h, w]; null where absent.
    /// </summary>
    internal (torch.Tensor? Coords, torch.Tensor? Labels, torch.Tensor? Box, torch.Tensor? Mask) ToModelFrame(
        Func<double, double, (double X, double Y)> transform, (int H, int W) maskInput, torch.Device device)
    {
        torch.Tensor? coords = null, labels = null, box = null, mask = null;
        if (Points is { Count: > 0 } points)
        {
            var xy = new float[points.Count * 2];
            var lab = new int[points.Count];
            for (int i = 0; i < points.Count; i++)
            {
                var (x, y) = transform(points[i].X, points[i].Y);
                (xy[2 * i], xy[2 * i + 1], lab[i]) = ((float)x, (float)y, points[i].Positive ? 1 : 0);
            }
            coords = torch.tensor(xy, [1, points.Count, 2], device: device);
            labels = torch.tensor(lab, [1, points.Count], device: device);
        }
        if (Box is { } b)
        {
            var (x0, y0) = transform(b.X0, b.Y0);
            var (x1, y1) = transform(b.X1, b.Y1);
            box = torch.tensor(new[] { (float)x0, (float)y0, (float)x1, (float)y1 }, [1, 2, 2], device: device);
        }
        if (MaskInput is { } m) mask = m.to(torch.ScalarType.Float32).to(device).reshape(1, 1, maskInput.H, maskInput.W);
        return (coords, labels, box, mask);
    }
}

/// <summary>
/// Masks of one prediction: <see cref="Masks"/> bool [C, H, W] at the original size (or logits, when
/// asked), <see cref="Scores"/> the predicted IoUs, <see cref="LowResLogits"/> [C, 4h, 4w] to feed back.
/// </summary>
public sealed record SamPrediction(torch.Tensor Masks, float[] Scores, torch.Tensor LowResLogits) : IDisposable
{
    /// <summary>Index of the mask with the highest predicted IoU.</summary>
    public int Best => Array.IndexOf(Scores, Scores.Max());

    /// <summary>The prediction of the first prompt of batched outputs (masks [B, C, H, W], IoUs [B, C], low-res logits [B, C, h, w]).</summary>
    internal static SamPrediction First(torch.Tensor masks, torch.Tensor iou, torch.Tensor lowRes) =>
        new(masks[0].MoveToOuterDisposeScope(), iou[0].cpu().data<float>().ToArray(), lowRes[0].MoveToOuterDisposeScope());

    /// <inheritdoc />
    public void Dispose()
    {
        Masks.Dispose();
        LowResLogits.Dispose();
    }
}

/// <summary>
/// Interactive use of SAM, as the official <c>SamPredictor</c>: <see cref="SetImage"/> runs the image encoder
/// once; <see cref="Predict"/> then answers any number of prompts with the cheap prompt encoder and mask
/// decoder. Coordinates are in original-image pixels; tensors live on the model's device.
/// </summary>
public sealed class SamPredictor : ISamPredictor
{
    private readonly SamModel _model;
    private readonly ResizeLongestSide _transform;
    private torch.Tensor? _features;

    /// <inheritdoc />
    public (int H, int W) OriginalSize { get; private set; }

    /// <summary>Resized image size (h, w) inside the padded model input.</summary>
    public (int H, int W) InputSize { get; private set; }

    /// <summary>The image embedding [1, C, h, w] of the current image (channels-last in memory, as the decoder reads it).</summary>
    public torch.Tensor Features => _features ?? throw new InvalidOperationException("call SetImage first");

    /// <summary>
    /// Creates a predictor over <paramref name="model"/> (put in evaluation mode). A <paramref name="precision"/> below
    /// float32 converts the model's image encoder in place (<see cref="EncoderPrecision"/>; issue 28); the prompt
    /// encoder and mask decoder stay float32.
    /// </summary>
    /// <exception cref="TesseraUserException">The encoder was converted to another precision already (parameter <c>precision</c>).</exception>
    public SamPredictor(SamModel model, Runtime.Precision precision = Runtime.Precision.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _model.eval();
        EncoderPrecision.Apply(model.ImageEncoder, precision);
        Precision = precision;
        _transform = new ResizeLongestSide(model.Config.ImageSize);
    }

    /// <inheritdoc />
    public torch.Device Device => _model.parameters().First().device;

    /// <inheritdoc />
    public SamFamily Family => SamFamily.Sam;

    /// <inheritdoc />
    public double MaskThreshold => SamModel.MaskThreshold;

    /// <inheritdoc />
    public (int H, int W) MaskInputSize => _model.PromptEncoder.MaskInputSize;

    /// <summary>The precision the image encoder runs at.</summary>
    public Runtime.Precision Precision { get; }

    /// <inheritdoc />
    public void SetImage(torch.Tensor rgb, bool channelsLast = false)
    {
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        using var scope = torch.NewDisposeScope();
        var (input, inputSize) = ModelInput(_model, channelsLast ? rgb.permute(2, 0, 1) : rgb);
        using (torch.no_grad())
        {
            var features = MemoryFormat.ChannelsLast(_model.ImageEncoder.forward(input));
            _features?.Dispose();
            _features = features.MoveToOuterDisposeScope();
        }
        OriginalSize = ((int)rgb.shape[channelsLast ? 0 : 1], (int)rgb.shape[channelsLast ? 1 : 2]);
        InputSize = inputSize;
    }

    /// <summary>
    /// The encoder input of an RGB image uint8 [3, H, W], as the predictor makes it: the longest side resized to
    /// the model's size (PIL's bilinear filter on uint8), normalised and zero-padded to L × L: [1, 3, L, L] on
    /// the model's device, with the resized size. Training and the embedding cache use this, so a fine-tuned
    /// model sees its images exactly as <see cref="SetImage"/> will show them.
    /// </summary>
    public static (torch.Tensor Input, (int H, int W) InputSize) ModelInput(SamModel model, torch.Tensor rgb)
    {
        using var scope = torch.NewDisposeScope();
        var hwc = rgb.permute(1, 2, 0).to(torch.ScalarType.Byte).cpu().contiguous();
        if (hwc.dim() != 3 || hwc.shape[2] != 3) throw new ArgumentException($"expected an RGB image, got shape [{string.Join(", ", rgb.shape)}]");
        int h = (int)hwc.shape[0], w = (int)hwc.shape[1];
        var (pixels, rh, rw) = new ResizeLongestSide(model.Config.ImageSize).ApplyImage(hwc.bytes, h, w);
        var device = model.parameters().First().device;
        var resized = torch.tensor(pixels, [1, rh, rw, 3], device: device).permute(0, 3, 1, 2);
        return (model.Preprocess(resized).MoveToOuterDisposeScope(), (rh, rw));
    }

    /// <summary>
    /// Validates prompts against the current image (a point outside it, a box with x1 &lt; x0 or y1 &lt; y0, a mask
    /// input not of the decoder's low-resolution size); <see cref="Predict"/> calls it.
    /// </summary>
    /// <exception cref="TesseraUserException">The prompt does not fit the image; the message names the prompt's parameter.</exception>
    public void Check(SamPrompt prompt) => prompt.Check(OriginalSize, MaskInputSize);

    /// <inheritdoc />
    public SamPrediction Predict(SamPrompt prompt, bool multimask = true, bool returnLogits = false)
    {
        Check(prompt);
        using var scope = torch.NewDisposeScope();
        var t = prompt.ToModelFrame(ToModelFrame, MaskInputSize, Device);
        var box = t.Box?.reshape(1, 4);
        var (masks, iou, lowRes) = PredictTorch(t.Coords, t.Labels, box, t.Mask, multimask, returnLogits);
        return SamPrediction.First(masks, iou, lowRes);
    }

    /// <summary>
    /// Batched prediction with prompts already in the model frame (coordinates of the resized image):
    /// coords [B, N, 2], labels [B, N], boxes [B, 4], masks [B, 1, 4h, 4w]. Returns masks [B, C, H, W]
    /// (bool, or logits), IoUs [B, C] and low-resolution logits [B, C, 4h, 4w].
    /// </summary>
    public (torch.Tensor Masks, torch.Tensor Iou, torch.Tensor LowRes) PredictTorch(torch.Tensor? coords, torch.Tensor? labels, torch.Tensor? boxes, torch.Tensor? masks, bool multimask = true, bool returnLogits = false)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (sparse, dense) = _model.PromptEncoder.forward(coords, labels, boxes, masks);
        using var pred = _model.MaskDecoder.forward(Features, _model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask);
        var full = _model.PostprocessMasks(pred.Masks, InputSize, OriginalSize);
        if (!returnLogits)
        {
            using var threshold = SamModel.MaskThreshold.ToScalar(); // held for the call: see PositionEmbeddingRandom.forward
            full = full.gt(threshold);
        }
        return (full.MoveToOuterDisposeScope(), pred.Iou.clone().MoveToOuterDisposeScope(), pred.Masks.clone().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The mask decoder alone on prompts already in the model frame (coords [B, N, 2], labels [B, N]; optional mask prompts
    /// [B, 1, 4h, 4w]): low-resolution logits [B, C, 4h, 4w] and IoUs [B, C]; <see cref="UpscaleLogits"/> brings logits to
    /// the image, as <see cref="PredictTorch"/> does.
    /// </summary>
    public (torch.Tensor LowRes, torch.Tensor Iou) PredictLowRes(torch.Tensor coords, torch.Tensor labels, bool multimask = true, torch.Tensor? maskInput = null)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (sparse, dense) = _model.PromptEncoder.forward(coords, labels, null, maskInput);
        using var pred = _model.MaskDecoder.forward(Features, _model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask);
        return (pred.Masks.clone().MoveToOuterDisposeScope(), pred.Iou.clone().MoveToOuterDisposeScope());
    }

    /// <inheritdoc />
    public torch.Tensor UpscaleLogits(torch.Tensor lowRes)
    {
        using var _ = torch.no_grad();
        return _model.PostprocessMasks(lowRes, InputSize, OriginalSize);
    }

    /// <inheritdoc />
    public (double X, double Y) ToModelFrame(double x, double y) => _transform.ApplyCoords(x, y, OriginalSize);

    /// <inheritdoc />
    public void Dispose()
    {
        _features?.Dispose();
        _features = null;
    }
}
