using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Sam.Training;

/// <summary>The click protocol and box prompts of one group of objects (all, or one COCO size).</summary>
/// <param name="Objects">Objects evaluated.</param>
/// <param name="MIoUByClicks">Mean IoU after 1 … N clicks.</param>
/// <param name="BoxMIoU">Mean IoU of the single mask predicted from the object's box.</param>
public sealed record SamPromptScores(
    [property: JsonPropertyName("objects")] int Objects,
    [property: JsonPropertyName("miou_by_clicks")] double[] MIoUByClicks,
    [property: JsonPropertyName("box_miou")] double BoxMIoU);

/// <summary>A checkpoint scored on an instance dataset: all objects, and per COCO size.</summary>
/// <param name="Images">Images read.</param>
/// <param name="All">Every object that may be prompted.</param>
/// <param name="BySize">Per COCO size (small, medium, large); groups without objects are left out.</param>
public sealed record SamDatasetScores(
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("all")] SamPromptScores All,
    [property: JsonPropertyName("by_size")] IReadOnlyDictionary<string, SamPromptScores> BySize);

/// <summary>
/// SAM's interactive evaluation on annotated images (Kirillov et al. 2023, §7.1 and App. D.1): per object (crowd
/// regions excluded), the first click at the point farthest from its boundary (three masks, the one with the
/// highest predicted IoU kept), then each click at the point farthest from the boundary of the larger error
/// region, with the previous low-resolution logits fed back (one mask); mIoU after each click. Also the IoU of the
/// single mask a box prompt (the object's bounding box) gives. Run through the family's predictor (<see cref="ISamPredictor"/>:
/// <see cref="SamPredictor"/> for SAM and MobileSAM, SAM 2's image predictor), exactly as <c>sam segment</c> predicts.
/// </summary>
public static class SamDatasetEvaluation
{
    /// <summary>
    /// Scores <paramref name="model"/> on <paramref name="data"/>; <paramref name="progress"/> gets the images done (by this
    /// rank). With a <paramref name="communicator"/> of several ranks, rank k scores images k, k + R, … and the per-image
    /// sums are merged exactly (<see cref="ExactSums"/>): every rank gets the single-process scores bit for bit. Every rank
    /// must call it.
    /// </summary>
    /// <exception cref="TesseraFormatException">An image is unreadable or does not have its annotated size.</exception>
    public static SamDatasetScores Evaluate(SamModel model, InstanceDataset data, int clicks = 5, long minArea = 1, IProgress<int>? progress = null, CancellationToken cancellation = default,
        ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.eval();
        using var predictor = new SamPredictor(model);
        return Evaluate(predictor, data, clicks, minArea, progress, cancellation, communicator);
    }

    /// <summary>
    /// Scores the model behind <paramref name="predictor"/> — any SAM family (SAM 2's image predictor included) — as
    /// <see cref="Evaluate(SamModel, InstanceDataset, int, long, IProgress{int}?, CancellationToken, ICommunicator?)"/> does:
    /// the same protocol through the predictor's own pre- and post-processing, exactly as <c>sam segment</c> predicts with it.
    /// The predictor's current image is replaced.
    /// </summary>
    /// <exception cref="TesseraFormatException">An image is unreadable or does not have its annotated size.</exception>
    public static SamDatasetScores Evaluate(ISamPredictor predictor, InstanceDataset data, int clicks = 5, long minArea = 1, IProgress<int>? progress = null, CancellationToken cancellation = default,
        ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        ArgumentNullException.ThrowIfNull(data);
        if (clicks < 1) throw new TesseraUserException(nameof(clicks), $"{clicks} must be at least 1");
        communicator ??= SingleProcess.Instance;
        // Per image and group (all objects, then each COCO size): objects, the IoU sums after each click, the box IoU sum.
        var sizes = Enum.GetValues<CocoAreaRange>();
        int groups = 1 + sizes.Length, entry = clicks + 2, width = groups * entry;
        var table = new double[data.Count * width];
        int done = 0;
        void Add(int image, int group, double[] ious, double box)
        {
            int at = image * width + group * entry;
            table[at] += 1;
            for (int k = 0; k < clicks; k++) table[at + 1 + k] += ious[k];
            table[at + 1 + clicks] += box;
        }
        for (int i = 0; i < data.Count; i++)
        {
            if (!ExactSums.Owns(communicator, i)) continue;
            cancellation.ThrowIfCancellationRequested();
            var image = data[i];
            using (var rgb = image.LoadRgb()) predictor.SetImage(rgb);
            int h = image.Height, w = image.Width;
            foreach (var obj in image.Prompts(minArea))
            {
                using var scope = torch.NewDisposeScope();
                var truth = obj.Mask.Decode();
                var ious = new double[clicks];
                var points = new List<SamPoint>();
                var first = ClickSimulation.First(truth, h, w);
                points.Add(new SamPoint(first.X, first.Y, first.Positive));
                torch.Tensor? previous = null;
                for (int k = 0; k < clicks; k++)
                {
                    using var prediction = predictor.Predict(new SamPrompt(points, null, previous), multimask: k == 0);
                    int best = k == 0 ? prediction.Best : 0;
                    var predicted = prediction.Masks[best].to(torch.ScalarType.Bool).cpu().contiguous().data<bool>().ToArray();
                    ious[k] = ClickSimulation.Iou(truth, predicted);
                    previous = prediction.LowResLogits[best].clone();
                    if (k + 1 < clicks)
                    {
                        var next = ClickSimulation.Next(truth, predicted, h, w);
                        // An exact mask gets a positive click where the first one was (a no-op prompt), as SamTrainer.Evaluate.
                        var click = next ?? first;
                        points.Add(new SamPoint(click.X, click.Y, click.Positive));
                    }
                }
                var bbox = obj.Bbox;
                using var boxed = predictor.Predict(new SamPrompt(null, new SamBox(bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3])), multimask: false);
                double boxIou = ClickSimulation.Iou(truth, boxed.Masks[0].to(torch.ScalarType.Bool).cpu().contiguous().data<bool>().ToArray());
                Add(i, 0, ious, boxIou);
                Add(i, 1 + Array.IndexOf(sizes, obj.Size), ious, boxIou);
            }
            progress?.Report(++done);
        }
        var total = ExactSums.Merge(communicator, table, width);
        SamPromptScores Scores(int group)
        {
            int at = group * entry, n = (int)total[at];
            return n == 0 ? new SamPromptScores(0, new double[clicks], 0)
                : new SamPromptScores(n, [.. total.AsSpan(at + 1, clicks).ToArray().Select(v => v / n)], total[at + 1 + clicks] / n);
        }
        var bySize = new SortedDictionary<string, SamPromptScores>(StringComparer.Ordinal);
        for (int g = 0; g < sizes.Length; g++)
            if (total[(1 + g) * entry] > 0) bySize[sizes[g].ToString().ToLowerInvariant()] = Scores(1 + g);
        return new SamDatasetScores(data.Count, Scores(0), bySize);
    }
}
