using Tessera.Segmentation.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Sam.Training;

/// <summary>Settings of promptable SAM training on Fashion-MNIST scenes.</summary>
public sealed record SamTrainOptions
{
    /// <summary>
    /// A small SAM for 64 px scenes trained from scratch: 4 px patches (16 × 16 tokens), width 128, 4 blocks
    /// (windows of 8, global attention in blocks 1 and 3), prompt width 128, full-resolution low-res masks.
    /// Channel counts stay multiples of 16 (docs/known-issues.md: narrow convolutions on oneDNN).
    /// </summary>
    public static SamConfig SmallConfig { get; } = new(ImageSize: 64, PatchSize: 4, EncoderDim: 128, EncoderDepth: 4, EncoderHeads: 4,
        GlobalAttentionBlocks: [1, 3], WindowSize: 8, PromptDim: 128, MaskInChannels: 64, DecoderDepth: 2, DecoderHeads: 4,
        DecoderMlpDim: 512, IouHeadHiddenDim: 128);

    /// <summary>
    /// The engine settings of a SAM run when none are given: 2,000 steps of 16 scenes, AdamW at 8·10⁻⁴ with weight
    /// decay 0.1 (as SAM), 100 warm-up steps then cosine decay, gradient clipping at 1, evaluation every 500 and a
    /// checkpoint every 250 steps.
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Steps = 2000,
        Batch = 16,
        LearningRate = 8e-4,
        Optimizer = OptimizerKind.AdamW,
        WeightDecay = 0.1,
        GradClip = 1.0,
        WarmupSteps = 100,
        Schedule = LearningRateSchedule.Cosine,
        EvalEvery = 500,
        CheckpointEvery = 250,
    };

    /// <summary>Model size when training from scratch.</summary>
    public SamConfig Config { get; init; } = SmallConfig;
    /// <summary>Start from this SAM checkpoint (.pth or .safetensors) instead of random weights.</summary>
    public string? Init { get; init; }
    /// <summary>Keep the image encoder fixed (fine-tune prompt encoder and mask decoder only).</summary>
    public bool FreezeEncoder { get; init; }
    /// <summary>Optimiser, schedule, length, cadences and seed (seed of initialisation and prompt sampling).</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;
    /// <summary>Prompting rounds per object and step: the first prompt, then clicks sampled from the error region.</summary>
    public int Rounds { get; init; } = 4;
    /// <summary>Validation scenes (every visible object of each is evaluated).</summary>
    public int EvalScenes { get; init; } = 64;
    /// <summary>Scene settings.</summary>
    public SceneOptions Scenes { get; init; } = new();
    /// <summary>Where Fashion-MNIST is (null: located as usual).</summary>
    public string? Data { get; init; }
    /// <summary>Smallest visible object (pixels) used for training and evaluation.</summary>
    public int MinObjectArea { get; init; } = 16;
}

/// <summary>mIoU over objects after each number of clicks (index 0 = one click).</summary>
/// <param name="MIoU">Mean IoU after 1, 2, … clicks.</param>
/// <param name="Objects">Objects evaluated.</param>
public sealed record ClickEvaluation(double[] MIoU, int Objects);

/// <summary>
/// Promptable training of SAM on Fashion-MNIST scenes with the SAM paper's interactive recipe (App. A,
/// "Training algorithm"): per object, a first prompt that is a foreground point or a noisy box (equal
/// odds), then clicks drawn uniformly from the error region of the previous prediction (positive on false
/// negatives, negative on false positives) with the previous mask logits fed back; the first round predicts
/// three masks and only the lowest loss counts; loss 20·focal + Dice plus MSE between predicted and actual
/// IoU. Prompt sampling is a function of (seed, step), so resumed runs continue bit for bit; the loop (optimiser,
/// schedule, checkpoints, resume, stop, Ctrl-C, finite-loss guard) is <see cref="TrainingEngine"/>'s.
/// </summary>
public sealed class SamTrainer
{
    private readonly SamTrainOptions _o;
    private readonly TrainingEngine _engine;
    private readonly torch.Device _device;

    /// <summary>Creates a trainer; with a <paramref name="communicator"/> of several ranks it trains data-parallel (<see cref="TrainingEngine"/>).</summary>
    /// <exception cref="TesseraUserException">Settings out of range (named).</exception>
    public SamTrainer(SamTrainOptions options, torch.Device? device = null, ICommunicator? communicator = null)
    {
        if (options.Rounds < 1) throw new TesseraUserException($"Rounds must be at least 1 (got {options.Rounds})");
        if (options.EvalScenes < 1) throw new TesseraUserException($"EvalScenes must be at least 1 (got {options.EvalScenes})");
        _o = options;
        _engine = new TrainingEngine(options.Training, device, communicator);
        _device = _engine.Device;
    }

    /// <summary>Image batch [B, 3, S, S] in [0, 1] to the encoder input, resized to the model's L × L if needed.</summary>
    internal static torch.Tensor ModelInput(SamModel model, torch.Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var x = images * 255f;
        int l = model.Config.ImageSize;
        if (x.shape[2] != l || x.shape[3] != l)
            x = torch.nn.functional.interpolate(x, size: [l, l], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: x.shape[2] > l);
        return model.Preprocess(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trains into <paramref name="runDir"/>: checkpoint.safetensors (resumable), model.safetensors (for
    /// sam segment/auto/eval), curve.csv, loss.png, clicks.json. Returns the final click evaluation, or null when
    /// the run stopped early at <see cref="TrainingOptions.StopAt"/> (checkpoint written, nothing evaluated).
    /// </summary>
    public ClickEvaluation? Train(string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var task = new SamTask(this);
        var result = _engine.Run(task, runDir, resume, progress, cancellation);
        if (result.Stopped) return null;
        var last = task.Last!;
        if (_engine.Communicator.Rank == 0) AtomicFile.WriteAllText(Path.Combine(runDir, "clicks.json"), JsonSerializer.Serialize(new { miou_by_clicks = last.MIoU, objects = last.Objects }));
        return last;
    }

    /// <summary>Promptable SAM training as a task of the engine.</summary>
    private sealed class SamTask(SamTrainer trainer) : ITrainingTask
    {
        private readonly SamTrainOptions _o = trainer._o;
        private SamModel? _model;
        private FashionMnist? _data;
        private FashionMnistScenes? _scenes;

        public ClickEvaluation? Last { get; private set; }
        public ModelKind Kind => ModelKind.Sam;
        public string ModelConfigJson => _model is null ? throw new InvalidOperationException("the model is built first") : SamModel.ConfigJson(_model.Config);
        public string TaskOptionsJson => JsonSerializer.Serialize(_o with { Config = _model?.Config ?? _o.Config });
        public string EvalName => "mIoU@3";
        public string PlotTitle => "SAM on Fashion-MNIST scenes";

        public string CanonicalConfig(string json, string path) =>
            SamModel.ConfigJson(JsonSerializer.Deserialize<SamConfig>(json) ?? throw new TesseraFormatException(path, "empty SAM configuration"));

        public torch.nn.Module Build(torch.Device device, bool resume)
        {
            _model = _o.Init is null ? new SamModel(_o.Config) : SamModel.Load(_o.Init, device);
            _model.to(device);
            if (_o.FreezeEncoder) foreach (var p in _model.ImageEncoder.parameters()) p.requires_grad = false;
            return _model;
        }

        public IEnumerable<TorchSharp.Modules.Parameter> Parameters() =>
            _o.FreezeEncoder ? _model!.PromptEncoder.parameters().Concat(_model.MaskDecoder.parameters()) : _model!.parameters();

        public void Prepare(long startStep, CancellationToken cancellation)
        {
            _data = FashionMnist.Load(Split.Train, _o.Data);
            _scenes = new FashionMnistScenes(_data, _o.Scenes);
        }

        public torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            using var scenes = _scenes!.Generate(batch.First, batch.Count);
            // Prompt sampling runs on the host: a SplitMix64 seeded from the step's generator.
            var rng = new SplitMix64((ulong)generator.initial_seed());
            return trainer.StepLoss(_model!, scenes, rng);
        }


        public EvalPoint? Evaluate()
        {
            Last = SamTrainer.Evaluate(_model!, _o.Scenes, _o.EvalScenes, 5, _o.Data, _o.MinObjectArea, communicator: trainer._engine.Communicator);
            return new EvalPoint(Last.MIoU[Math.Min(2, Last.MIoU.Length - 1)], $"mIoU@1/3/5 {100 * Last.MIoU[0]:0.0}/{100 * Last.MIoU[2]:0.0}/{100 * Last.MIoU[4]:0.0}");
        }


        public void AfterCheckpoint(string runDir, long step) =>
            _model!.Save(Path.Combine(runDir, "model.safetensors"), new Dictionary<string, string> { ["step"] = step.ToString(CultureInfo.InvariantCulture) });

        public void Dispose()
        {
            _data?.Dispose();
            _model?.Dispose();
        }
    }

    /// <summary>Objects of a scene batch: (scene index, instance id, mask) for every instance with at least <paramref name="minArea"/> visible pixels.</summary>
    internal static List<(int Scene, int Id, bool[] Mask)> Objects(torch.Tensor instances, int minArea)
    {
        var result = new List<(int, int, bool[])>();
        long n = instances.shape[0], s = instances.shape[1] * instances.shape[2];
        var ids = instances.cpu().contiguous().data<byte>().ToArray();
        for (int b = 0; b < n; b++)
        {
            var present = new SortedDictionary<int, int>();
            for (long i = 0; i < s; i++) if (ids[b * s + i] is var v and > 0) present[v] = present.GetValueOrDefault(v) + 1;
            foreach (var (id, area) in present)
                if (area >= minArea)
                    result.Add((b, id, Enumerable.Range(0, (int)s).Select(i => ids[b * s + i] == id).ToArray()));
        }
        return result;
    }

    private torch.Tensor StepLoss(SamModel model, SceneBatch batch, SplitMix64 rng)
    {
        int s = (int)batch.Images.shape[2];
        double scale = (double)model.Config.ImageSize / s;
        var objects = Objects(batch.Instances, _o.MinObjectArea);
        // One object per scene, chosen at random among its visible ones.
        var chosen = objects.GroupBy(o => o.Scene).Select(g => g.ElementAt((int)rng.NextBelow((ulong)g.Count()))).ToList();
        if (chosen.Count == 0) return torch.zeros(1, device: _device).sum().requires_grad_(true);
        var sceneIdx = torch.tensor(chosen.Select(c => (long)c.Scene).ToArray(), device: _device);
        var images = batch.Images.to(_device).index_select(0, sceneIdx);
        int b = chosen.Count;
        var truth = torch.tensor(chosen.SelectMany(c => c.Mask).ToArray(), [b, s, s], device: _device).to(torch.ScalarType.Float32);

        torch.Tensor features;
        var input = ModelInput(model, images);
        // A frozen encoder runs in evaluation mode (the engine puts the model in training mode each step): MobileSAM's
        // TinyViT batch norms then use, and keep, their running statistics.
        if (_o.FreezeEncoder)
        {
            model.ImageEncoder.eval();
            using (torch.no_grad()) features = model.ImageEncoder.forward(input);
        }
        else
        {
            features = model.ImageEncoder.forward(input);
        }
        var pe = model.PromptEncoder.DensePositionalEncoding();

        // First prompt per object: a uniform foreground point (plus padding) or a noisy box (two corners).
        var coords = new List<double[]>[b];
        var labels = new List<int>[b];
        for (int i = 0; i < b; i++)
        {
            var mask = chosen[i].Mask;
            coords[i] = [];
            labels[i] = [];
            if (rng.NextBelow(2) == 0)
            {
                var fg = Enumerable.Range(0, mask.Length).Where(p => mask[p]).ToArray();
                int p = fg[(int)rng.NextBelow((ulong)fg.Length)];
                coords[i].Add([p % s, p / s]);
                labels[i].Add(1);
                coords[i].Add([0, 0]);
                labels[i].Add(-1);
            }
            else
            {
                var box = SmallRegions.Box(mask, s, s);
                double U() => (rng.Next() >> 11) * (1.0 / (1UL << 53));
                double Gauss() => Math.Sqrt(-2 * Math.Log(1 - U())) * Math.Cos(2 * Math.PI * U());
                double sx = Math.Min(0.1 * (box[2] - box[0] + 1), 20), sy = Math.Min(0.1 * (box[3] - box[1] + 1), 20);
                double Clamp(double v) => Math.Clamp(v, 0, s - 1);
                coords[i].Add([Clamp(box[0] + sx * Gauss()), Clamp(box[1] + sy * Gauss())]);
                labels[i].Add(2);
                coords[i].Add([Clamp(box[2] + sx * Gauss()), Clamp(box[3] + sy * Gauss())]);
                labels[i].Add(3);
            }
        }
        torch.Tensor? previous = null;
        var total = torch.zeros(1, device: _device).sum();
        for (int round = 0; round < _o.Rounds; round++)
        {
            int n = coords[0].Count;
            var c = torch.tensor(coords.SelectMany(l => l.SelectMany(p => p.Select(v => (float)(v * scale)))).ToArray(), [b, n, 2], device: _device);
            var lab = torch.tensor(labels.SelectMany(l => l.Select(v => (long)v)).ToArray(), [b, n], device: _device);
            var sparse = model.PromptEncoder.EmbedLabeled(c, lab);
            var dense = model.PromptEncoder.EmbedDense(previous, b);
            bool multimask = round == 0;
            using var pred = model.MaskDecoder.forward(features, pe, sparse, dense, multimask);
            var lowRes = pred.Masks; // [b, m, 4h, 4w]
            int m = (int)lowRes.shape[1];
            var atImage = lowRes.shape[2] == s ? lowRes : torch.nn.functional.interpolate(lowRes, size: [s, s], mode: torch.InterpolationMode.Bilinear, align_corners: false);
            var flat = atImage.reshape(b * m, s, s);
            var target = truth.unsqueeze(1).expand(b, m, s, s).reshape(b * m, s, s);
            var maskLoss = (20 * SamLosses.Focal(flat, target) + SamLosses.Dice(flat, target)).view(b, m);
            var actualIou = SamLosses.Iou(flat, target).view(b, m);
            var iouLoss = (pred.Iou - actualIou).pow(2);
            var (best, arg) = maskLoss.min(1);
            total = total + best.mean() + iouLoss.mean();
            // The chosen mask's logits prompt the next round (no gradient through the feedback).
            previous = lowRes.gather(1, arg.view(b, 1, 1, 1).expand(b, 1, lowRes.shape[2], lowRes.shape[3])).detach();
            if (round + 1 == _o.Rounds) break;
            var predicted = (atImage.gather(1, arg.view(b, 1, 1, 1).expand(b, 1, s, s)) > 0).cpu().contiguous().data<bool>().ToArray();
            for (int i = 0; i < b; i++)
            {
                var mask = chosen[i].Mask;
                var errors = Enumerable.Range(0, mask.Length).Where(p => mask[p] != predicted[i * s * s + p]).ToArray();
                int pick;
                bool positive;
                if (errors.Length == 0)
                {
                    var fg = Enumerable.Range(0, mask.Length).Where(p => mask[p]).ToArray();
                    (pick, positive) = (fg[(int)rng.NextBelow((ulong)fg.Length)], true);
                }
                else
                {
                    pick = errors[(int)rng.NextBelow((ulong)errors.Length)];
                    positive = mask[pick];
                }
                // Clicks go before the padding point or the box corners, as the official prompt order has them.
                int at = labels[i].FindIndex(v => v is -1 or 2);
                coords[i].Insert(at, [pick % s, pick / s]);
                labels[i].Insert(at, positive ? 1 : 0);
            }
        }
        return total / _o.Rounds;
    }

    /// <summary>
    /// The SAM paper's click protocol on validation scenes (Fashion-MNIST test items): per object, the first
    /// click at the point farthest from its boundary (three masks, the one with the highest predicted IoU
    /// kept), then each click at the point farthest from the boundary of the larger error region, with the
    /// previous mask logits fed back (one mask). Returns mIoU over objects after 1 … <paramref name="clicks"/> clicks.
    /// With a <paramref name="communicator"/> of several ranks, rank k scores the chunks of 16 scenes numbered k, k + R, …
    /// and the per-chunk sums are merged exactly (<see cref="ExactSums"/>): every rank gets the single-process result bit
    /// for bit. Every rank must call it.
    /// </summary>
    public static ClickEvaluation Evaluate(SamModel model, SceneOptions sceneOptions, int sceneCount, int clicks = 5, string? data = null, int minArea = 16, bool feedMask = true,
        ICommunicator? communicator = null)
    {
        communicator ??= SingleProcess.Instance;
        model.eval();
        var device = model.parameters().First().device;
        using var test = FashionMnist.Load(Split.Test, data);
        var scenes = new FashionMnistScenes(test, sceneOptions with { IgnoreBand = false });
        // Per chunk: the IoU sums after each click, then the objects scored.
        int width = clicks + 1;
        var table = new double[(sceneCount + 15) / 16 * width];
        using var _ = torch.no_grad();
        for (int first = 0; first < sceneCount; first += 16)
        {
            int row = first / 16;
            if (!ExactSums.Owns(communicator, row)) continue;
            var sums = table.AsSpan(row * width, clicks);
            using var scope = torch.NewDisposeScope();
            int count = Math.Min(16, sceneCount - first);
            using var batch = scenes.Generate(first, count);
            int s = (int)batch.Images.shape[2];
            double scale = (double)model.Config.ImageSize / s;
            var objects = Objects(batch.Instances, minArea);
            if (objects.Count == 0) continue;
            int b = objects.Count;
            var features = model.ImageEncoder.forward(ModelInput(model, batch.Images.to(device)));
            features = features.index_select(0, torch.tensor(objects.Select(o => (long)o.Scene).ToArray(), device: device));
            var pe = model.PromptEncoder.DensePositionalEncoding();
            var points = objects.Select(o => new List<Click> { ClickSimulation.First(o.Mask, s, s) }).ToArray();
            torch.Tensor? previous = null;
            for (int k = 0; k < clicks; k++)
            {
                int n = points[0].Count;
                var c = torch.tensor(points.SelectMany(l => l.SelectMany(p => new[] { (float)(p.X * scale), (float)(p.Y * scale) })).ToArray(), [b, n, 2], device: device);
                var lab = torch.tensor(points.SelectMany(l => l.Select(p => p.Positive ? 1L : 0L)).ToArray(), [b, n], device: device);
                var (sparse, dense) = model.PromptEncoder.forward(c, lab, null, previous);
                using var pred = model.MaskDecoder.forward(features, pe, sparse, dense, multimask: k == 0);
                var arg = pred.Iou.argmax(1);
                var lowRes = pred.Masks.gather(1, arg.view(b, 1, 1, 1).expand(b, 1, pred.Masks.shape[2], pred.Masks.shape[3]));
                previous = feedMask ? lowRes : null;
                int l = model.Config.ImageSize;
                var atImage = model.PostprocessMasks(lowRes, (l, l), (s, s));
                var predicted = (atImage > 0).cpu().contiguous().data<bool>().ToArray();
                for (int i = 0; i < b; i++)
                {
                    var p = predicted.AsSpan(i * s * s, s * s);
                    sums[k] += ClickSimulation.Iou(objects[i].Mask, p);
                    if (k + 1 < clicks)
                    {
                        var next = ClickSimulation.Next(objects[i].Mask, p, s, s);
                        // An exact mask gets a positive click where the first one was (a no-op prompt), so every object has the same prompt count.
                        points[i].Add(next ?? points[i][0]);
                    }
                }
            }
            table[row * width + clicks] = b;
        }
        var total = ExactSums.Merge(communicator, table, width);
        int objectsSeen = (int)total[clicks];
        return new ClickEvaluation([.. total.Take(clicks).Select(v => objectsSeen == 0 ? 0 : v / objectsSeen)], objectsSeen);
    }
}
