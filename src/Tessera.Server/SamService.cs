using System.Diagnostics;
using System.Security.Cryptography;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;
using TorchSharp;

namespace Tessera.Server;

/// <summary>
/// The loaded SAM of any family (<see cref="SamCheckpoints.Open"/>: SAM ViT-B/L/H, MobileSAM, SAM 2 / 2.1): uploads encoded
/// once into the <see cref="EmbeddingCache"/>, prompts answered by the decoder, one call at a time.
/// </summary>
public sealed class SamService : IModelService, IDisposable
{
    private readonly LoadedSam _loaded;

    /// <summary>Embeddings of uploaded images.</summary>
    public EmbeddingCache Cache { get; }

    /// <summary>The model's queue.</summary>
    public ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    public string Checkpoint { get; }

    /// <summary>The model family.</summary>
    public SamFamily Family => _loaded.Predictor.Family;

    /// <summary>The model: <see cref="SamModel"/> or <see cref="Sam2Model"/>.</summary>
    public torch.nn.Module Model => _loaded.Model;

    /// <summary>Parameters.</summary>
    public long Parameters { get; }

    /// <summary>Device.</summary>
    public string Device { get; }

    /// <summary>Loads <paramref name="checkpoint"/> (any SAM family) onto <paramref name="device"/>; <paramref name="imageSize"/> is SAM 2's model input side.</summary>
    public SamService(string checkpoint, torch.Device device, long cacheBytes, int queueLength, int imageSize = 1024)
    {
        Checkpoint = checkpoint;
        _loaded = SamCheckpoints.Open(checkpoint, device, imageSize: imageSize);
        _loaded.Model.eval();
        Parameters = _loaded.Model.parameters().Sum(p => p.NumberOfElements);
        Device = device.ToString();
        Cache = new EmbeddingCache(cacheBytes);
        Queue = new ModelQueue("SAM", queueLength);
    }

    /// <summary>Disposed after the queue closes and before the model (the video service over this model), or null.</summary>
    internal IDisposable? Companion { get; set; }

    /// <summary>The model's fields of <c>GET /api/models</c>: family, input size, encoder and its width and depth.</summary>
    internal (string Key, object? Value)[] Info() => _loaded.Model switch
    {
        Sam2Model m => [("family", "sam2"), ("image_size", m.ImageSize), ("encoder", "hiera")],
        SamModel m => [("family", "sam"), ("image_size", m.Config.ImageSize), ("encoder", m.ImageEncoder.Family),
            ("encoder_dim", m.Config.TinyVit?.EmbedDims[^1] ?? m.Config.EncoderDim), ("encoder_depth", m.Config.TinyVit?.Depths.Sum() ?? m.Config.EncoderDepth)],
        _ => [],
    };

    // A predictor of its own for one cached image, over the shared model.
    private ISamPredictor NewPredictor() => _loaded.Model switch
    {
        Sam2Model m => new Sam2Predictor(m),
        SamModel m => new SamPredictor(m),
        _ => throw new InvalidOperationException($"unknown SAM model {_loaded.Model.GetType().Name}"),
    };

    // Bytes of a predictor's image features (SAM: the embedding and the decoder's positional encoding of its size).
    private static long FeatureBytes(ISamPredictor predictor)
    {
        static long Of(torch.Tensor t) => t.NumberOfElements * t.ElementSize;
        return predictor switch
        {
            Sam2Predictor p => Of(p.Features.ImageEmbedding) + Of(p.Features.HighRes.S0) + Of(p.Features.HighRes.S1),
            SamPredictor p => 2 * Of(p.Features),
            _ => 0,
        };
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
            var predictor = NewPredictor();
            try
            {
                var clock = Stopwatch.StartNew();
                predictor.SetImage(rgb);
                double ms = clock.Elapsed.TotalMilliseconds;
                Cache.Add(new CachedImage(id, rgb, predictor, FeatureBytes(predictor)));
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
        // the family's own defaults (SAM 2: predicted-IoU threshold 0.8), as sam auto takes them
        var defaults = Family == SamFamily.Sam2 ? AmgOptions.Sam2Defaults : new AmgOptions();
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
            // The loaded predictor, not the cached image's: the generator sets crops as images, which must not replace the cached embedding.
            var generator = new AutomaticMaskGenerator(_loaded.Predictor, options);
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
        Companion?.Dispose();
        Cache.Dispose();
        Queue.Dispose();
        _loaded.Dispose();
    }

    /// <summary>Progress that checks for cancellation on the generator's thread (Progress&lt;T&gt; would post elsewhere).</summary>
    private sealed class CancelOnProgress(CancellationToken token) : IProgress<double>
    {
        public void Report(double value) => token.ThrowIfCancellationRequested();
    }
}
