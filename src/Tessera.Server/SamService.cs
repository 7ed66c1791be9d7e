using System.Diagnostics;
using System.Security.Cryptography;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using TorchSharp;

namespace Tessera.Server;

/// <summary>The loaded SAM: uploads encoded once into the <see cref="EmbeddingCache"/>, prompts answered by the decoder, one call at a time.</summary>
public sealed class SamService : IModelService, IDisposable
{
    private readonly SamModel _model;

    /// <summary>Embeddings of uploaded images.</summary>
    public EmbeddingCache Cache { get; }

    /// <summary>The model's queue.</summary>
    public ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    public string Checkpoint { get; }

    /// <summary>The architecture.</summary>
    public SamConfig Config => _model.Config;

    /// <summary>The image encoder family ("vit", or "tiny_vit" for MobileSAM).</summary>
    public string EncoderFamily => _model.ImageEncoder.Family;

    /// <summary>Parameters.</summary>
    public long Parameters { get; }

    /// <summary>Device.</summary>
    public string Device { get; }

    /// <summary>Loads <paramref name="checkpoint"/> onto <paramref name="device"/>.</summary>
    public SamService(string checkpoint, torch.Device device, long cacheBytes, int queueLength)
    {
        Checkpoint = checkpoint;
        _model = SamModel.Load(checkpoint, device);
        _model.eval();
        Parameters = _model.parameters().Sum(p => p.NumberOfElements);
        Device = device.ToString();
        Cache = new EmbeddingCache(cacheBytes);
        Queue = new ModelQueue("SAM", queueLength);
    }

    /// <summary>Id of an upload: the first 128 bits of its SHA-256, hex.</summary>
    public static string IdOf(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes))[..32];

    /// <summary>Decodes and encodes an uploaded image unless its embedding is cached.</summary>
    public Task<SamImageResponse> UploadAsync(byte[] bytes, CancellationToken cancel)
    {
        string id = IdOf(bytes);
        return Queue.RunAsync(_ =>
        {
            if (Cache.TryGet(id, out var hit))
                return new SamImageResponse(id, hit!.Predictor.OriginalSize.W, hit.Predictor.OriginalSize.H, true, 0);
            var rgb = HttpIO.DecodeRgb(bytes);
            var predictor = new SamPredictor(_model);
            try
            {
                var clock = Stopwatch.StartNew();
                predictor.SetImage(rgb);
                predictor.Features.DetachFromDisposeScope();
                double ms = clock.Elapsed.TotalMilliseconds;
                Cache.Add(new CachedImage(id, rgb, predictor));
                return new SamImageResponse(id, (int)rgb.shape[2], (int)rgb.shape[1], false, ms);
            }
            catch
            {
                predictor.Dispose();
                rgb.Dispose();
                throw;
            }
        }, cancel);
    }

    /// <summary>Masks for a prompt.</summary>
    public Task<SamPredictResponse> PredictAsync(SamPredictRequest request, CancellationToken cancel)
    {
        string id = RequireId(request.Id);
        // The library reads and checks the prompt (SamPoint/SamBox.FromValues, SamPredictor.Check): its
        // TesseraUserException is the 400, with the request's field named (RequestFields).
        var points = (request.Points ?? []).Select((p, i) => SamPoint.FromValues(p ?? [], $"points[{i}]")).ToList();
        SamBox? box = request.Box is { } b ? SamBox.FromValues(b, "box") : null;
        bool multimask = request.Multimask ?? (points.Count == 1 && box is null);
        return Queue.RunAsync(_ =>
        {
            using var scope = torch.NewDisposeScope();
            var image = Cache.Get(id);
            var (h, w) = image.Predictor.OriginalSize;
            var maskInput = request.MaskInput is { } handle ? image.Logits(handle) : null;
            var clock = Stopwatch.StartNew();
            using var prediction = image.Predictor.Predict(new SamPrompt(points, box, maskInput), multimask);
            double ms = clock.Elapsed.TotalMilliseconds;
            int count = (int)prediction.Masks.shape[0];
            var masks = new SamMask[count];
            for (int i = 0; i < count; i++)
            {
                var mask = prediction.Masks[i].cpu().contiguous();
                var rle = MaskRle.Encode(mask.data<bool>().ToArray(), h, w);
                string logits = image.Keep(prediction.LowResLogits[i..(i + 1)].clone());
                masks[i] = new SamMask(HttpIO.MaskPngBase64(mask), new CocoRle([h, w], rle.ToCocoString()), prediction.Scores[i], rle.Area, logits);
            }
            Cache.Trim();
            return new SamPredictResponse(masks, prediction.Best, ms);
        }, cancel);
    }

    /// <summary>Automatic masks (the official generator) for a cached image.</summary>
    public Task<SamAutoResponse> AutoAsync(SamAutoRequest request, CancellationToken cancel)
    {
        string id = RequireId(request.Id);
        var defaults = new AmgOptions();
        var options = defaults with
        {
            PointsPerSide = request.PointsPerSide ?? defaults.PointsPerSide,
            PointsPerBatch = request.PointsPerBatch ?? defaults.PointsPerBatch,
            PredIouThreshold = request.PredIouThresh ?? defaults.PredIouThreshold,
            StabilityScoreThreshold = request.StabilityScoreThresh ?? defaults.StabilityScoreThreshold,
            BoxNmsThreshold = request.BoxNmsThresh ?? defaults.BoxNmsThreshold,
            CropLayers = request.CropNLayers ?? defaults.CropLayers,
            MinMaskRegionArea = request.MinMaskRegionArea ?? defaults.MinMaskRegionArea,
        };
        if (options.PointsPerSide is < 1 or > 128) throw ApiException.BadRequest($"points_per_side: {options.PointsPerSide} must be in 1 … 128");
        if (options.PointsPerBatch is < 1 or > 1024) throw ApiException.BadRequest($"points_per_batch: {options.PointsPerBatch} must be in 1 … 1024");
        if (options.CropLayers is < 0 or > 3) throw ApiException.BadRequest($"crop_n_layers: {options.CropLayers} must be in 0 … 3");
        if (options.MinMaskRegionArea < 0) throw ApiException.BadRequest($"min_mask_region_area: {options.MinMaskRegionArea} is negative");
        foreach (var (name, v) in new[] { ("pred_iou_thresh", options.PredIouThreshold), ("stability_score_thresh", options.StabilityScoreThreshold), ("box_nms_thresh", options.BoxNmsThreshold) })
            if (!(v >= 0 && v <= 1)) throw ApiException.BadRequest($"{name}: {v} must be in 0 … 1");
        return Queue.RunAsync(token =>
        {
            using var scope = torch.NewDisposeScope();
            var image = Cache.Get(id);
            var clock = Stopwatch.StartNew();
            // A predictor of its own: the generator sets crops as images, which must not replace the cached embedding.
            using var predictor = new SamPredictor(_model);
            var generator = new AutomaticMaskGenerator(predictor, options);
            var found = generator.Generate(image.Rgb, new CancelOnProgress(token));
            found = [.. found.OrderByDescending(m => m.Area)];
            int h = image.Predictor.OriginalSize.H, w = image.Predictor.OriginalSize.W;
            var tensors = found.Select(m => torch.tensor(m.Segmentation.Decode(), [h, w])).ToList();
            string overlay = HttpIO.PngBase64(MaskOverlay.Masks(image.Rgb, tensors));
            var annotations = found.Select(m => new SamAnnotation(new CocoRle([h, w], m.Segmentation.ToCocoString()), m.Area, m.BoxXywh,
                m.PredictedIou, [m.PointCoords], m.StabilityScore, m.CropBoxXywh)).ToArray();
            return new SamAutoResponse(annotations, overlay, clock.Elapsed.TotalMilliseconds);
        }, cancel);
    }

    private static string RequireId(string? id) =>
        string.IsNullOrWhiteSpace(id) ? throw ApiException.BadRequest("id: required (the id POST /api/sam/images returned)") : id;

    /// <inheritdoc />
    public void Dispose()
    {
        // A call still running after the shutdown timeout keeps its model: freeing tensors under it would crash the process.
        if (!Queue.Close(TimeSpan.FromSeconds(30))) return;
        Cache.Dispose();
        Queue.Dispose();
        _model.Dispose();
    }

    /// <summary>Progress that checks for cancellation on the generator's thread (Progress&lt;T&gt; would post elsewhere).</summary>
    private sealed class CancelOnProgress(CancellationToken token) : IProgress<double>
    {
        public void Report(double value) => token.ThrowIfCancellationRequested();
    }
}
