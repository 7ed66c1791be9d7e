
namespace Tessera.Segmentation.Sam.Inference;

/// <summary>Settings of the automatic mask generator; defaults are the official ones.</summary>
/// <param name="PointsPerSide">Grid of PointsPerSide² single-point prompts over each crop.</param>
/// <param name="PointsPerBatch">Prompts decoded together (memory against speed).</param>
/// <param name="PredIouThreshold">Keep masks whose predicted IoU exceeds this.</param>
/// <param name="StabilityScoreThreshold">Keep masks whose stability score is at least this.</param>
/// <param name="StabilityScoreOffset">Logit offset of the stability score (IoU of the masks thresholded at ±offset).</param>
/// <param name="BoxNmsThreshold">Box IoU above which the lower-scoring mask of a crop is dropped.</param>
/// <param name="CropLayers">Extra layers of crops (layer i has 2^i × 2^i crops).</param>
/// <param name="CropNmsThreshold">Box IoU for removing duplicates across crops (smaller crops win).</param>
/// <param name="CropOverlapRatio">Overlap of neighbouring crops, as a fraction of the short side (at layer 1).</param>
/// <param name="CropPointsDownscale">Points per side divided by this factor per crop layer.</param>
/// <param name="MinMaskRegionArea">Remove holes and islands smaller than this many pixels (0: off). SAM 2's official generator hands
/// this to its predictor's hole filling, which needs its CUDA extension and is skipped without it (with a warning); so with a
/// SAM 2 predictor it changes nothing here either.</param>
/// <param name="MaskThreshold">Logit threshold of a mask pixel (SAM 2's mask_threshold; SAM's is 0).</param>
/// <param name="MultimaskOutput">Three masks per point (SAM 2's multimask_output); false: one, chosen by the decoder.</param>
/// <param name="UseM2M">SAM 2's one-step refinement: each mask is predicted again from its point and its own low-resolution logits.</param>
public sealed record AmgOptions(
    int PointsPerSide = 32,
    int PointsPerBatch = 64,
    double PredIouThreshold = 0.88,
    double StabilityScoreThreshold = 0.95,
    double StabilityScoreOffset = 1.0,
    double BoxNmsThreshold = 0.7,
    int CropLayers = 0,
    double CropNmsThreshold = 0.7,
    double CropOverlapRatio = 512.0 / 1500,
    int CropPointsDownscale = 1,
    int MinMaskRegionArea = 0,
    double MaskThreshold = 0.0,
    bool MultimaskOutput = true,
    bool UseM2M = false)
{
    /// <summary>The official defaults of SAM 2's <c>SAM2AutomaticMaskGenerator</c> (predicted-IoU threshold 0.8 instead of SAM's 0.88).</summary>
    public static AmgOptions Sam2Defaults => new(PredIouThreshold: 0.8);
}

/// <summary>
/// One automatically generated mask: its RLE at the image size, area, box (x, y, w, h, inclusive pixel
/// extent as the official code reports it), predicted IoU, the prompt point, stability score and the crop.
/// </summary>
public sealed record AmgMask(MaskRle Segmentation, long Area, int[] BoxXywh, double PredictedIou, double[] PointCoords, double StabilityScore, int[] CropBoxXywh);

/// <summary>
/// SAM's automatic mask generator (Kirillov et al. 2023, §7.1 and App. B): prompts a regular grid of points
/// over the image (and optionally over overlapping crops), keeps confident and stable masks, removes
/// duplicates with box NMS, and optionally cleans small holes and islands — the official algorithm, step for step.
/// With a SAM 2 predictor it is SAM 2's <c>SAM2AutomaticMaskGenerator</c>: the same loop, with its mask threshold,
/// multimask and mask-to-mask refinement settings, and no small-region removal (see <see cref="AmgOptions.MinMaskRegionArea"/>).
/// </summary>
public sealed class AutomaticMaskGenerator(ISamPredictor predictor, AmgOptions? options = null)
{
    /// <summary>The settings.</summary>
    public AmgOptions Options { get; } = options ?? new AmgOptions();

    /// <summary>Regular grid of n × n points in [0, 1]², cell centres, x fastest.</summary>
    public static double[,] PointGrid(int n)
    {
        var grid = new double[n * n, 2];
        double offset = 1.0 / (2 * n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                grid[i * n + j, 0] = n == 1 ? offset : offset + j * (1 - 2 * offset) / (n - 1);
                grid[i * n + j, 1] = n == 1 ? offset : offset + i * (1 - 2 * offset) / (n - 1);
            }
        return grid;
    }

    /// <summary>Crop boxes (x0, y0, x1, y1) and their layers: the whole image, then 2^i × 2^i overlapping crops per layer i.</summary>
    public static List<(int[] Box, int Layer)> CropBoxes(int height, int width, int layers, double overlapRatio)
    {
        var result = new List<(int[], int)> { ([0, 0, width, height], 0) };
        int shortSide = Math.Min(height, width);
        for (int layer = 0; layer < layers; layer++)
        {
            int perSide = 1 << (layer + 1);
            int overlap = (int)(overlapRatio * shortSide * (2.0 / perSide));
            int cropW = (int)Math.Ceiling((double)(overlap * (perSide - 1) + width) / perSide);
            int cropH = (int)Math.Ceiling((double)(overlap * (perSide - 1) + height) / perSide);
            for (int i = 0; i < perSide; i++)
                for (int j = 0; j < perSide; j++)
                {
                    int x0 = (cropW - overlap) * i, y0 = (cropH - overlap) * j;
                    result.Add(([x0, y0, Math.Min(x0 + cropW, width), Math.Min(y0 + cropH, height)], layer + 1));
                }
        }
        return result;
    }

    /// <summary>Stability score: IoU of the masks thresholded at threshold + offset and threshold − offset.</summary>
    public static torch.Tensor StabilityScore(torch.Tensor logits, double threshold, double offset)
    {
        using var scope = torch.NewDisposeScope();
        // Row sums, then the sum of the row sums (as the official code): far faster in libtorch than one reduction over both axes.
        var inter = (logits > threshold + offset).sum(-1, type: torch.ScalarType.Int32).sum(-1, type: torch.ScalarType.Int32).to(torch.ScalarType.Float32);
        var union = (logits > threshold - offset).sum(-1, type: torch.ScalarType.Int32).sum(-1, type: torch.ScalarType.Int32).to(torch.ScalarType.Float32);
        return (inter / union).MoveToOuterDisposeScope();
    }

    /// <summary>Tight boxes (x0, y0, x1, y1; inclusive) of masks [N, H, W]; [0, 0, 0, 0] for an empty mask.</summary>
    public static torch.Tensor MaskToBox(torch.Tensor masks)
    {
        using var scope = torch.NewDisposeScope();
        long h = masks.shape[^2], w = masks.shape[^1];
        var rows = masks.any(-1);
        var cols = masks.any(-2);
        var ys = torch.arange(h, torch.ScalarType.Int64, masks.device);
        var xs = torch.arange(w, torch.ScalarType.Int64, masks.device);
        var bottom = (rows * ys).amax([-1]);
        var top = (ys + h * (~rows).to(torch.ScalarType.Int64)).amin([-1]);
        var right = (cols * xs).amax([-1]);
        var left = (xs + w * (~cols).to(torch.ScalarType.Int64)).amin([-1]);
        var empty = (right < left) | (bottom < top);
        var box = torch.stack([left, top, right, bottom], -1) * (~empty).unsqueeze(-1).to(torch.ScalarType.Int64);
        return box.MoveToOuterDisposeScope();
    }

    /// <summary>Greedy non-maximum suppression of boxes by score (torchvision's rule: drop IoU &gt; threshold); returns kept indexes, best first.</summary>
    public static List<int> Nms(IReadOnlyList<double[]> boxes, IReadOnlyList<double> scores, double threshold)
    {
        var order = Enumerable.Range(0, boxes.Count).OrderByDescending(i => scores[i]).ToArray();
        var removed = new bool[boxes.Count];
        var keep = new List<int>();
        for (int p = 0; p < order.Length; p++)
        {
            int i = order[p];
            if (removed[i]) continue;
            keep.Add(i);
            var a = boxes[i];
            double areaA = (a[2] - a[0]) * (a[3] - a[1]);
            // Only lower-scoring boxes can be suppressed: every earlier one is already kept or removed.
            for (int q = p + 1; q < order.Length; q++)
            {
                int j = order[q];
                if (removed[j]) continue;
                var b = boxes[j];
                double iw = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
                double ih = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
                double inter = iw * ih;
                double iou = inter / (areaA + (b[2] - b[0]) * (b[3] - b[1]) - inter);
                if (iou > threshold) removed[j] = true;
            }
        }
        return keep;
    }

    /// <summary>A mask found in a crop; it is kept at the crop's size (0/1 bytes) and placed in the image only if it survives NMS.</summary>
    private sealed class Candidate(byte[] cropMask, int[] box, double iou, double[] point, double stability, int[] crop, (int H, int W) image)
    {
        private bool[]? _mask;

        public bool[] Mask
        {
            get => _mask ??= Uncrop();
            set => _mask = value;
        }

        public int[] Box { get; set; } = box;
        public double Iou => iou;
        public double[] Point => point;
        public double Stability => stability;
        public int[] Crop => crop;

        private bool[] Uncrop()
        {
            var full = new bool[image.H * image.W];
            int cw = crop[2] - crop[0], ch = crop[3] - crop[1];
            var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, bool>(cropMask.AsSpan());
            for (int y = 0; y < ch; y++)
                src.Slice(y * cw, cw).CopyTo(full.AsSpan((y + crop[1]) * image.W + crop[0], cw));
            return full;
        }
    }

    /// <summary>Generates masks for an RGB image (uint8 [3, H, W]); <paramref name="progress"/> gets the fraction done, <paramref name="cancellation"/> stops between point batches.</summary>
    public List<AmgMask> Generate(torch.Tensor rgb, IProgress<double>? progress = null, CancellationToken cancellation = default)
    {
        var o = Options;
        int h = (int)rgb.shape[1], w = (int)rgb.shape[2];
        var crops = CropBoxes(h, w, o.CropLayers, o.CropOverlapRatio);
        var all = new List<Candidate>();
        for (int ci = 0; ci < crops.Count; ci++)
        {
            var (crop, layer) = crops[ci];
            all.AddRange(ProcessCrop(rgb, crop, layer, (h, w), f => progress?.Report((ci + f) / crops.Count), cancellation));
        }
        if (crops.Count > 1)
        {
            // Duplicates across crops: prefer masks from smaller crops.
            var keep = Nms([.. all.Select(c => c.Box.Select(v => (double)v).ToArray())],
                [.. all.Select(c => 1.0 / ((double)(c.Crop[2] - c.Crop[0]) * (c.Crop[3] - c.Crop[1])))], o.CropNmsThreshold);
            all = [.. keep.Select(i => all[i])];
        }
        if (o.MinMaskRegionArea > 0 && predictor.Family != SamFamily.Sam2) all = RemoveSmallRegions(all, h, w, o.MinMaskRegionArea, Math.Max(o.BoxNmsThreshold, o.CropNmsThreshold));
        return [.. all.Select(c =>
        {
            var rle = MaskRle.Encode(c.Mask, h, w);
            return new AmgMask(rle, rle.Area, [c.Box[0], c.Box[1], c.Box[2] - c.Box[0], c.Box[3] - c.Box[1]], c.Iou, c.Point, c.Stability,
                [c.Crop[0], c.Crop[1], c.Crop[2] - c.Crop[0], c.Crop[3] - c.Crop[1]]);
        })];
    }

    private List<Candidate> ProcessCrop(torch.Tensor rgb, int[] crop, int layer, (int H, int W) original, Action<double> report, CancellationToken cancellation)
    {
        var o = Options;
        using (var cropped = rgb[.., crop[1]..crop[3], crop[0]..crop[2]])
            predictor.SetImage(cropped);
        int ch = crop[3] - crop[1], cw = crop[2] - crop[0];
        var grid = PointGrid(o.PointsPerSide / (int)Math.Pow(o.CropPointsDownscale, layer));
        int n = grid.GetLength(0);
        var found = new List<Candidate>();
        for (int start = 0; start < n; start += o.PointsPerBatch)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(o.PointsPerBatch, n - start);
            using var scope = torch.NewDisposeScope();
            var points = new double[count][];
            var model = new double[count * 2];
            for (int i = 0; i < count; i++)
            {
                points[i] = [grid[start + i, 0] * cw, grid[start + i, 1] * ch];
                var (mx, my) = predictor.ToModelFrame(points[i][0], points[i][1]);
                (model[2 * i], model[2 * i + 1]) = (mx, my);
            }
            var device = predictor.Device;
            var coords = torch.tensor(model, [count, 1, 2], device: device);
            var labels = torch.ones(count, 1, torch.ScalarType.Int64, device);
            var (lowRes, iou) = predictor.PredictLowRes(coords, labels, o.MultimaskOutput);
            int m = (int)lowRes.shape[1];
            var lowFlat = lowRes.flatten(0, 1).unsqueeze(1);
            if (o.UseM2M) (lowFlat, iou) = Refine(coords, lowFlat, m);
            var iouFlat = iou.flatten().to(torch.ScalarType.Float64).cpu().data<double>().ToArray();
            var keep = Enumerable.Range(0, count * m).Where(i => !(o.PredIouThreshold > 0) || iouFlat[i] > o.PredIouThreshold).ToList();
            long plane = (long)ch * cw;
            // Masks are brought to the image size a chunk of at most 16 MB of logits at a time: the same numbers (each mask
            // is upscaled on its own), but the allocator reuses the memory instead of mapping fresh pages for every batch.
            int chunk = (int)Math.Max(1, (4L << 20) / plane);
            for (int c0 = 0; c0 < keep.Count; c0 += chunk)
            {
                using var chunkScope = torch.NewDisposeScope();
                var ids = keep.GetRange(c0, Math.Min(chunk, keep.Count - c0));
                var logits = predictor.UpscaleLogits(lowFlat.index_select(0, torch.tensor(ids.Select(i => (long)i).ToArray(), device: device))).squeeze(1);
                var stability = StabilityScore(logits, o.MaskThreshold, o.StabilityScoreOffset).to(torch.ScalarType.Float64).cpu().data<double>().ToArray();
                var binary = logits > o.MaskThreshold;
                var boxes = MaskToBox(binary).cpu().data<long>().ToArray();
                var maskBytes = binary.to(torch.ScalarType.Byte).cpu().contiguous();
                var bytes = maskBytes.bytes;
                for (int k = 0; k < ids.Count; k++)
                {
                    if (o.StabilityScoreThreshold > 0 && !(stability[k] >= o.StabilityScoreThreshold)) continue;
                    int[] box = [(int)boxes[4 * k] + crop[0], (int)boxes[4 * k + 1] + crop[1], (int)boxes[4 * k + 2] + crop[0], (int)boxes[4 * k + 3] + crop[1]];
                    if (NearCropEdge(box, crop, original)) continue;
                    int pi = ids[k] / m;
                    found.Add(new Candidate(bytes.Slice((int)(k * plane), (int)plane).ToArray(), box, iouFlat[ids[k]],
                        [points[pi][0] + crop[0], points[pi][1] + crop[1]], stability[k], crop, original));
                }
            }
            report((double)(start + count) / n);
        }
        var nmsKeep = Nms([.. found.Select(c => c.Box.Select(v => (double)v).ToArray())], [.. found.Select(c => c.Iou)], o.BoxNmsThreshold);
        return [.. nmsKeep.Select(i => found[i])];
    }

    // SAM 2's mask-to-mask refinement (SAM2AutomaticMaskGenerator.refine_with_m2m): every mask of the batch (points
    // repeated per mask) is predicted again, single-mask, from its point and its low-resolution logits clamped to ±32 as the
    // official predictor returns them; points_per_batch prompts at a time. Returns the new logits [K, 1, h, w] and IoUs [K].
    private (torch.Tensor LowRes, torch.Tensor Iou) Refine(torch.Tensor coords, torch.Tensor lowRes, int perPoint)
    {
        using var scope = torch.NewDisposeScope();
        var points = coords.repeat_interleave(perPoint, 0);
        var labels = torch.ones(points.shape[0], 1, torch.ScalarType.Int64, points.device);
        var masks = new List<torch.Tensor>();
        var ious = new List<torch.Tensor>();
        for (long start = 0; start < points.shape[0]; start += Options.PointsPerBatch)
        {
            long end = Math.Min(points.shape[0], start + Options.PointsPerBatch);
            var (m, i) = predictor.PredictLowRes(points.narrow(0, start, end - start), labels.narrow(0, start, end - start), multimask: false,
                maskInput: lowRes.narrow(0, start, end - start).clamp(-32.0, 32.0));
            masks.Add(m);
            ious.Add(i);
        }
        return (torch.cat(masks, 0).MoveToOuterDisposeScope(), torch.cat(ious, 0).flatten().MoveToOuterDisposeScope());
    }

    private static bool NearCropEdge(int[] box, int[] crop, (int H, int W) original)
    {
        int[] image = [0, 0, original.W, original.H];
        for (int i = 0; i < 4; i++)
            if (Math.Abs(box[i] - crop[i]) <= 20.0 && !(Math.Abs(box[i] - image[i]) <= 20.0)) return true;
        return false;
    }

    private static List<Candidate> RemoveSmallRegions(List<Candidate> all, int h, int w, int minArea, double nmsThreshold)
    {
        var scores = new List<double>();
        foreach (var c in all)
        {
            var (mask, changedHoles) = SmallRegions.Remove(c.Mask, h, w, minArea, holes: true);
            var (mask2, changedIslands) = SmallRegions.Remove(mask, h, w, minArea, holes: false);
            scores.Add(changedHoles || changedIslands ? 0.0 : 1.0);
            if (changedHoles || changedIslands)
            {
                c.Mask = mask2;
                c.Box = SmallRegions.Box(mask2, h, w);
            }
        }
        var keep = Nms([.. all.Select(c => c.Box.Select(v => (double)v).ToArray())], scores, nmsThreshold);
        return [.. keep.Select(i => all[i])];
    }
}
