using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;

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
/// single mask a box prompt (the object's bounding box) gives. Run through <see cref="SamPredictor"/>, exactly as
/// <c>sam segment</c> predicts.
/// </summary>
public static class SamDatasetEvaluation
{
    /// <summary>Scores <paramref name="model"/> on <paramref name="data"/>; <paramref name="progress"/> gets the images done.</summary>
    /// <exception cref="TesseraFormatException">An image is unreadable or does not have its annotated size.</exception>
    public static SamDatasetScores Evaluate(SamModel model, InstanceDataset data, int clicks = 5, long minArea = 1, Action<int>? progress = null, CancellationToken cancellation = default)
    {
        if (clicks < 1) throw new TesseraUserException(nameof(clicks), $"{clicks} must be at least 1");
        model.eval();
        using var predictor = new SamPredictor(model);
        var sums = new Dictionary<int, (int N, double[] Clicks, double Box)>(); // key −1: all objects; else a CocoAreaRange
        void Add(int key, double[] ious, double box)
        {
            var (n, c, b) = sums.TryGetValue(key, out var v) ? v : (0, new double[clicks], 0.0);
            for (int k = 0; k < clicks; k++) c[k] += ious[k];
            sums[key] = (n + 1, c, b + box);
        }
        for (int i = 0; i < data.Count; i++)
        {
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
                Add(-1, ious, boxIou);
                Add((int)obj.Size, ious, boxIou);
            }
            progress?.Invoke(i + 1);
        }
        SamPromptScores Scores(int key) => sums.TryGetValue(key, out var v)
            ? new SamPromptScores(v.N, [.. v.Clicks.Select(s => s / v.N)], v.Box / v.N)
            : new SamPromptScores(0, new double[clicks], 0);
        var bySize = new SortedDictionary<string, SamPromptScores>(StringComparer.Ordinal);
        foreach (var size in Enum.GetValues<CocoAreaRange>())
            if (sums.ContainsKey((int)size)) bySize[size.ToString().ToLowerInvariant()] = Scores((int)size);
        return new SamDatasetScores(data.Count, Scores(-1), bySize);
    }
}
