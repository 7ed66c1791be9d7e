using Tessera.Segmentation.Data;
using Tessera.Segmentation.Metrics;
using Tessera.Segmentation.Models;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Training;

/// <summary>Settings of a segmentation training run.</summary>
public sealed record SegTrainOptions
{
    /// <summary>
    /// The engine settings of a segmentation run when none are given: 1,500 steps of 16 scenes, AdamW at 2·10⁻³ with
    /// weight decay 10⁻⁴, 100 warm-up steps then cosine decay, gradient clipping at 5, evaluation and a checkpoint
    /// every 500 steps.
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Steps = 1500,
        Batch = 16,
        LearningRate = 2e-3,
        Optimizer = OptimizerKind.AdamW,
        WeightDecay = 1e-4,
        GradClip = 5.0,
        WarmupSteps = 100,
        Schedule = LearningRateSchedule.Cosine,
        EvalEvery = 500,
        CheckpointEvery = 500,
    };

    /// <summary>The model.</summary>
    public SegModelConfig Model { get; init; } = new();
    /// <summary>Optimiser, schedule, length, cadences and seed (seed of initialisation and dropout).</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;
    /// <summary>Loss: ce, dice, focal or a sum such as ce+dice.</summary>
    public string Loss { get; init; } = "ce";
    /// <summary>Validation scenes.</summary>
    public int EvalScenes { get; init; } = 256;
    /// <summary>Scene settings (canvas, items, seed).</summary>
    public SceneOptions Scenes { get; init; } = new();
    /// <summary>Where Fashion-MNIST is (null: located as usual).</summary>
    public string? Data { get; init; }
    /// <summary>A torchvision ResNet state dict (.pth or .safetensors) to initialise the backbone of a new run (torchvision layout only).</summary>
    public string? BackboneWeights { get; init; }
}

/// <summary>Validation results: the metrics, and IoU on a boundary band and on the interior (GCN paper, Table 5).</summary>
/// <param name="Metrics">All metrics over the validation scenes.</param>
/// <param name="BoundaryMIoU">mIoU over pixels within 2 px of a ground-truth boundary.</param>
/// <param name="InteriorMIoU">mIoU over the other pixels.</param>
/// <param name="Confusion">The confusion matrix over all validation pixels.</param>
public sealed record SegEvaluation(SegmentationMetrics Metrics, double BoundaryMIoU, double InteriorMIoU, ConfusionMatrix Confusion);

/// <summary>
/// Trains a segmentation model on Fashion-MNIST scenes: per-pixel loss on scenes determined by their index, dropout
/// seeded by (seed, step), periodic validation with boundary/interior mIoU, metrics.json at the end. The loop
/// (optimiser, schedule, checkpoints, resume, stop, Ctrl-C, finite-loss guard) is <see cref="TrainingEngine"/>'s.
/// </summary>
public sealed class SegTrainer
{
    private readonly SegTrainOptions _o;
    private readonly TrainingEngine _engine;

    /// <summary>Creates a trainer; with a <paramref name="communicator"/> of several ranks it trains data-parallel (<see cref="TrainingEngine"/>).</summary>
    /// <exception cref="TesseraUserException">Settings out of range (named).</exception>
    public SegTrainer(SegTrainOptions options, torch.Device? device = null, ICommunicator? communicator = null)
    {
        options.Model.Validate();
        SegmentationLosses.Validate(options.Loss, nameof(options.Loss));
        if (options.EvalScenes < 1) throw new TesseraUserException(nameof(options.EvalScenes), $"{options.EvalScenes}; expected at least 1");
        _o = options with { Model = options.Model with { Labels = options.Model.Labels ?? LabelSet.Default(options.Model.Classes, options.Model.ImageNetInput) } };
        _o.Model.Validate();
        _engine = new TrainingEngine(options.Training, device, communicator);
    }

    /// <summary>Time the last training run spent summing gradients over the ranks (zero in one process).</summary>
    public TimeSpan AllReduceTime => _engine.AllReduceTime;

    /// <summary>
    /// Trains into <paramref name="runDir"/> (checkpoint.safetensors, curve.csv, loss.png, metrics.json); resumes
    /// from its checkpoint when <paramref name="resume"/>. Returns the final validation, or null when the run stopped
    /// early at <see cref="TrainingOptions.StopAt"/> (checkpoint written, nothing evaluated).
    /// </summary>
    public SegEvaluation? Train(string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var task = new SegTask(this);
        var result = _engine.Run(task, runDir, resume, progress, cancellation);
        if (result.Stopped) return null;
        var last = task.Last!;
        if (_engine.Communicator.Rank == 0) AtomicFile.WriteAllText(Path.Combine(runDir, "metrics.json"), FolderEvaluation.ToJson(last.Metrics, last.Confusion, _o.EvalScenes));
        return last;
    }

    /// <summary>The segmentation family as a task of the engine.</summary>
    private sealed class SegTask(SegTrainer trainer) : SegmentationTask(trainer._o.Model, trainer._o.BackboneWeights, null, trainer._engine.Device)
    {
        private readonly SegTrainOptions _o = trainer._o;
        private FashionMnist? _data;
        private FashionMnistScenes? _scenes;

        public SegEvaluation? Last { get; private set; }
        public override string TaskOptionsJson => JsonSerializer.Serialize(_o);
        public override string PlotTitle => $"{EnumNames.Name(_o.Model.Model)} on Fashion-MNIST scenes";

        public override void Prepare(long startStep, CancellationToken cancellation)
        {
            _data = FashionMnist.Load(Split.Train, _o.Data);
            _scenes = new FashionMnistScenes(_data, _o.Scenes);
        }

        public override torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            using var scenes = _scenes!.Generate(batch.First, batch.Count);
            return SegmentationLosses.WithAuxiliary(_o.Loss, Model!, scenes.Images.to(Device), scenes.Labels.to(Device));
        }

        public override EvalPoint? Evaluate()
        {
            Last = SegTrainer.Evaluate(Model!, _o, Device, trainer._engine.Communicator);
            return new EvalPoint(Last.Metrics.MIoU, $"mIoU {100 * Last.Metrics.MIoU:0.0}");
        }

        public override void Dispose()
        {
            _data?.Dispose();
            base.Dispose();
        }
    }

    /// <summary>
    /// Validation on the first N scenes made from Fashion-MNIST's test images. With a <paramref name="communicator"/> of
    /// several ranks, rank k scores the chunks of 32 scenes numbered k, k + R, … and the confusion matrices are summed over
    /// the ranks, so every rank gets exactly the single-process result.
    /// </summary>
    public static SegEvaluation Evaluate(torch.nn.Module<torch.Tensor, torch.Tensor> model, SegTrainOptions o, torch.Device device, ICommunicator? communicator = null)
    {
        communicator ??= SingleProcess.Instance;
        model.eval();
        using var test = FashionMnist.Load(Split.Test, o.Data);
        var scenes = new FashionMnistScenes(test, o.Scenes with { IgnoreBand = false });
        var all = new ConfusionMatrix(o.Model.Classes);
        var band = new ConfusionMatrix(o.Model.Classes);
        var interior = new ConfusionMatrix(o.Model.Classes);
        using (torch.no_grad())
        {
            for (int first = 32 * communicator.Rank; first < o.EvalScenes; first += 32 * communicator.Size)
            {
                using var scope = torch.NewDisposeScope();
                int n = Math.Min(32, o.EvalScenes - first);
                using var batch = scenes.Generate(first, n);
                var pred = model.forward(batch.Images.to(device)).argmax(1).cpu();
                var labels = batch.Labels;
                all.Add(labels, pred);
                var near = BoundaryBand(labels, 2);
                band.Add(labels.masked_fill(near.logical_not(), 255), pred);
                interior.Add(labels.masked_fill(near, 255), pred);
            }
        }
        foreach (var cm in new[] { all, band, interior }) SumOverRanks(cm, communicator);
        return new SegEvaluation(SegmentationMetrics.Compute(all, FashionMnistScenes.ClassNames), SegmentationMetrics.Compute(band).MIoU, SegmentationMetrics.Compute(interior).MIoU, all);
    }

    /// <summary>Replaces this rank's counts by their sum over the ranks (integers: the merge is exact); a collective.</summary>
    internal static void SumOverRanks(ConfusionMatrix cm, ICommunicator communicator)
    {
        if (communicator.Size == 1) return;
        var counts = cm.Counts.ToArray();
        communicator.AllReduce(counts.AsSpan());
        cm.Clear();
        cm.AddCounts(counts);
    }

    /// <summary>Pixels within <paramref name="width"/> px (Chebyshev) of a label change, [N, H, W] bool.</summary>
    public static torch.Tensor BoundaryBand(torch.Tensor labels, int width)
    {
        using var scope = torch.NewDisposeScope();
        var l = labels.to(torch.ScalarType.Float32).unsqueeze(1);
        int k = 2 * width + 1;
        var max = torch.nn.functional.max_pool2d(l, k, 1, width);
        var min = -torch.nn.functional.max_pool2d(-l, k, 1, width);
        return max.ne(min).squeeze(1).MoveToOuterDisposeScope();
    }
}
