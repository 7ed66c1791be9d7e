using Tessera.Segmentation.Data;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Metrics;
using Tessera.Segmentation.Models;
using Tessera.Segmentation.Transforms;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Training;

/// <summary>Settings of a segmentation training run on a dataset split (VOC, Cityscapes, ADE20K, custom).</summary>
public sealed record SegDatasetTrainOptions
{
    /// <summary>
    /// The recipe of DeepLab v3 and mmsegmentation for dataset training: SGD with momentum 0.9, learning rate 0.01,
    /// weight decay 5·10⁻⁴, the poly schedule (power 0.9), no warm-up and no clipping; batch 16, 1,000 steps,
    /// evaluation and a checkpoint every 500.
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Steps = 1000,
        Batch = 16,
        LearningRate = 0.01,
        Optimizer = OptimizerKind.Sgd,
        WeightDecay = 5e-4,
        Schedule = LearningRateSchedule.Poly,
        EvalEvery = 500,
        CheckpointEvery = 500,
    };

    /// <summary>The model (its classes are set from the dataset, its input is ImageNet-normalised).</summary>
    public SegModelConfig Model { get; init; } = new() { Model = SegModelKind.DeepLabV3, Depth = 50, BaseWidth = 64, SmallStem = false };
    /// <summary>Optimiser, schedule, length, cadences and seed.</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;
    /// <summary>Loss: ce, dice, focal or a sum such as ce+dice (<see cref="SegmentationLosses"/>).</summary>
    public string Loss { get; init; } = "ce";
    /// <summary>Layout (custom, voc, cityscapes, ade20k), or null to detect it.</summary>
    public DatasetLayout? Layout { get; init; }
    /// <summary>The dataset's root folder.</summary>
    public string Root { get; init; } = "";
    /// <summary>The training split.</summary>
    public string Split { get; init; } = "train";
    /// <summary>The validation split.</summary>
    public string ValSplit { get; init; } = "val";
    /// <summary>Options some layouts read (custom suffixes, VOC augmented set, reduce_zero_label).</summary>
    [JsonIgnore] public DatasetOptions Dataset { get; init; } = new();
    /// <summary>RandomResize's base scale, width.</summary>
    public int ScaleWidth { get; init; } = 2048;
    /// <summary>RandomResize's base scale, height.</summary>
    public int ScaleHeight { get; init; } = 512;
    /// <summary>RandomResize's smallest ratio.</summary>
    public double MinRatio { get; init; } = 0.5;
    /// <summary>RandomResize's largest ratio.</summary>
    public double MaxRatio { get; init; } = 2.0;
    /// <summary>Crop height (RandomCrop and Pad).</summary>
    public int CropHeight { get; init; } = 512;
    /// <summary>Crop width.</summary>
    public int CropWidth { get; init; } = 512;
    /// <summary>How validation images are run (whole or slide; scales and flip).</summary>
    public InferenceOptions Inference { get; init; } = new();
    /// <summary>Background threads decoding and augmenting.</summary>
    public int LoaderThreads { get; init; } = 2;
    /// <summary>Validate only the first N images of the validation split (null: all).</summary>
    public int? EvalImages { get; init; }
    /// <summary>A torchvision ResNet state dict (.pth or .safetensors) to initialise the backbone of a new run.</summary>
    public string? BackboneWeights { get; init; }
    /// <summary>
    /// A checkpoint of a segmentation trainer whose model weights (all of them, heads included) start a new run:
    /// fine-tuning. Its network must be the one <see cref="Model"/> builds for the dataset's classes.
    /// </summary>
    public string? Pretrained { get; init; }

    /// <summary>Checks the settings; messages name the property.</summary>
    /// <exception cref="TesseraUserException">A setting out of range.</exception>
    public void Validate()
    {
        Model.Validate();
        SegmentationLosses.Validate(Loss, nameof(Loss));
        if (BackboneWeights is not null && Pretrained is not null)
            throw new TesseraUserException(nameof(Pretrained), "give either a pretrained checkpoint or backbone weights, not both (the checkpoint holds the backbone too)");
        if (CropHeight < 1 || CropWidth < 1) throw new TesseraUserException(nameof(CropHeight), $"{CropHeight}x{CropWidth}; expected a positive crop size");
        if (ScaleWidth < 1 || ScaleHeight < 1) throw new TesseraUserException(nameof(ScaleWidth), $"{ScaleWidth}x{ScaleHeight}; expected a positive scale");
        if (!(MinRatio > 0) || !(MaxRatio >= MinRatio)) throw new TesseraUserException(nameof(MinRatio), $"{MinRatio},{MaxRatio}; expected 0 < min ≤ max");
        if (EvalImages is < 1) throw new TesseraUserException(nameof(EvalImages), $"{EvalImages}; expected at least 1");
        if (LoaderThreads < 1) throw new TesseraUserException(nameof(LoaderThreads), $"{LoaderThreads}; expected at least 1");
    }

    /// <summary>The training pipeline: mmsegmentation's standard augmentation at this scale, ratio range and crop.</summary>
    public SegAugmentation Augmentation() => SegAugmentation.Standard(ScaleWidth, ScaleHeight, CropHeight, CropWidth) with
    {
        Resize = new RandomResize(ScaleWidth, ScaleHeight, MinRatio, MaxRatio),
    };
}

/// <summary>The validation of a dataset run: metrics, confusion matrix, images scored.</summary>
/// <param name="Metrics">aAcc, mIoU, mAcc, FWIoU and per class.</param>
/// <param name="Confusion">The confusion matrix over the validation pixels.</param>
/// <param name="Images">Images scored.</param>
public sealed record DatasetScore(SegmentationMetrics Metrics, ConfusionMatrix Confusion, int Images);

/// <summary>
/// Trains a segmentation model on a dataset split: a validation pass over both splits before the first step (a bad
/// file stops the run, named), mmsegmentation's augmentation through <see cref="SegmentationLoader"/> (batches a pure
/// function of seed and step, so a resume continues bit for bit), evaluation on the validation split at original
/// resolution, metrics.json at the end. The loop is <see cref="TrainingEngine"/>'s.
/// </summary>
public sealed class SegDatasetTrainer
{
    private readonly SegDatasetTrainOptions _o;
    private readonly TrainingEngine _engine;
    private readonly ISegmentationDataset _train, _val;

    /// <summary>
    /// Opens and checks both splits of the dataset at <see cref="SegDatasetTrainOptions.Root"/> (every pair decoded and
    /// range-checked) and creates the trainer.
    /// </summary>
    /// <exception cref="TesseraUserException">Settings out of range, or the dataset cannot be opened.</exception>
    /// <exception cref="TesseraFormatException">A file of either split is bad (named).</exception>
    public SegDatasetTrainer(SegDatasetTrainOptions options, torch.Device? device = null, CancellationToken cancellation = default)
        : this(OpenChecked(options, cancellation), options, device, null)
    {
    }

    /// <summary>
    /// Opens and checks both splits and creates a trainer whose <paramref name="communicator"/>'s ranks train together
    /// (<see cref="TrainingEngine"/>): each rank loads only its micro-batches of every step, and the validation images are
    /// split over the ranks with the confusion matrices summed.
    /// </summary>
    /// <exception cref="TesseraUserException">Settings out of range, a batch that does not split over the ranks, or the dataset cannot be opened.</exception>
    /// <exception cref="TesseraFormatException">A file of either split is bad (named).</exception>
    public SegDatasetTrainer(SegDatasetTrainOptions options, torch.Device? device, ICommunicator? communicator, CancellationToken cancellation = default)
        : this(OpenChecked(options, cancellation), options, device, communicator)
    {
    }

    /// <summary>
    /// Creates a trainer on splits the caller supplies (any <see cref="ISegmentationDataset"/>, such as a user's own
    /// dataset class); <see cref="SegDatasetTrainOptions.Layout"/>, <see cref="SegDatasetTrainOptions.Root"/> and the
    /// split names are not read. The splits must agree on their classes; their files are read as training needs them.
    /// </summary>
    /// <exception cref="TesseraUserException">Settings out of range, or the splits disagree on their classes.</exception>
    public SegDatasetTrainer(ISegmentationDataset train, ISegmentationDataset validation, SegDatasetTrainOptions options, torch.Device? device = null)
        : this((train, validation), options, device, null)
    {
    }

    private SegDatasetTrainer((ISegmentationDataset Train, ISegmentationDataset Val) splits, SegDatasetTrainOptions options, torch.Device? device, ICommunicator? communicator)
    {
        options.Validate();
        (_train, _val) = splits;
        if (_train.Count == 0) throw new TesseraUserException(nameof(options.Split), $"the training split '{_train.Split}' has no image/label pairs");
        if (_val.Count == 0) throw new TesseraUserException(nameof(options.ValSplit), $"the validation split '{_val.Split}' has no image/label pairs");
        if (!_val.ClassNames.SequenceEqual(_train.ClassNames))
            throw new TesseraUserException(nameof(options.ValSplit), $"split '{_val.Split}' has {_val.NumClasses} classes ({string.Join(", ", _val.ClassNames.Take(4))}, …) but '{_train.Split}' has {_train.NumClasses} ({string.Join(", ", _train.ClassNames.Take(4))}, …)");
        _o = options with { Model = options.Model with { Classes = _train.NumClasses, ImageNetInput = true, Labels = LabelSet.Of(_train) } };
        _o.Model.Validate();
        _engine = new TrainingEngine(_o.Training, device, communicator);
    }

    private static (ISegmentationDataset, ISegmentationDataset) OpenChecked(SegDatasetTrainOptions options, CancellationToken cancellation)
    {
        options.Validate();
        var train = SegmentationDatasets.Open(options.Layout, options.Root, options.Split, options.Dataset);
        var val = SegmentationDatasets.Open(train.Layout, options.Root, options.ValSplit, options.Dataset);
        train.Validate(cancellation: cancellation);
        val.Validate(cancellation: cancellation);
        return (train, val);
    }

    /// <summary>The options in effect (classes and their names from the dataset).</summary>
    public SegDatasetTrainOptions Options => _o;

    /// <summary>The training split.</summary>
    public ISegmentationDataset TrainSet => _train;

    /// <summary>The validation split.</summary>
    public ISegmentationDataset ValSet => _val;

    /// <summary>
    /// Trains into <paramref name="runDir"/>; resumes from its checkpoint when <paramref name="resume"/>. Returns the
    /// final validation, or null when the run stopped early at <see cref="TrainingOptions.StopAt"/>.
    /// </summary>
    public DatasetScore? Train(string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var task = new DatasetTask(this);
        var result = _engine.Run(task, runDir, resume, progress, cancellation);
        if (result.Stopped) return null;
        var last = task.Last!;
        if (_engine.Communicator.Rank == 0) AtomicFile.WriteAllText(Path.Combine(runDir, "metrics.json"), FolderEvaluation.ToJson(last.Metrics, last.Confusion, last.Images));
        return last;
    }

    /// <summary>
    /// Scores <paramref name="network"/> on the validation split (the first <see cref="SegDatasetTrainOptions.EvalImages"/>
    /// images). On several ranks rank k scores images k, k + R, … and the confusion matrices are summed (integer counts:
    /// exactly the single-process result); every rank must call it.
    /// </summary>
    public DatasetScore Evaluate(torch.nn.Module<torch.Tensor, torch.Tensor> network, CancellationToken cancellation = default)
    {
        var comm = _engine.Communicator;
        int n = Math.Min(_val.Count, _o.EvalImages ?? int.MaxValue);
        var mine = Enumerable.Range(0, n).Where(i => i % comm.Size == comm.Rank).ToList();
        var cm = DatasetEvaluation.Evaluate(network, _val, mine, _o.Inference, imageNet: true, _engine.Device, cancellation: cancellation);
        SegTrainer.SumOverRanks(cm, comm);
        return new DatasetScore(SegmentationMetrics.Compute(cm, _val.ClassNames), cm, n);
    }

    /// <summary>Dataset segmentation as a task of the engine.</summary>
    private sealed class DatasetTask(SegDatasetTrainer trainer) : SegmentationTask(trainer._o.Model, trainer._o.BackboneWeights, trainer._o.Pretrained, trainer._engine.Device)
    {
        private readonly SegDatasetTrainOptions _o = trainer._o;
        private SegmentationLoader? _loader;
        private IEnumerator<SegmentationBatch>? _batches;

        public DatasetScore? Last { get; private set; }
        public override string TaskOptionsJson => JsonSerializer.Serialize(_o);
        public override string PlotTitle => $"{EnumNames.Name(_o.Model.Model)} on {EnumNames.Name(trainer._train.Layout)} {_o.Split}";

        // Step s is loader step s of the whole batch, cut into the R·A micro-batches of all ranks (A per rank); this rank
        // loads only its own A parts. Every sample is augmented by (seed, step, position in the batch), so the data depend
        // only on the seed and the step: the ranks' parts together are the single-process batch, whatever R and A are,
        // and a resumed run (on any number of ranks) reads exactly what the unbroken run would have read.
        public override void Prepare(long startStep, CancellationToken cancellation)
        {
            var t = _o.Training;
            var comm = trainer._engine.Communicator;
            _loader = new SegmentationLoader(trainer._train, _o.Augmentation(), new LoaderOptions(
                BatchSize: t.Batch, Threads: _o.LoaderThreads, Prefetch: 2 * _o.LoaderThreads, Seed: (ulong)t.Seed,
                FirstStep: startStep, Steps: t.Steps)
            {
                Parts = comm.Size * t.Accumulate,
                FirstPart = comm.Rank * t.Accumulate,
                PartCount = t.Accumulate,
            });
            _batches = _loader.GetEnumerator();
        }

        public override torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            if (!_batches!.MoveNext()) throw new InvalidOperationException($"the data loader ended before micro-batch {batch.Micro} of step {batch.Step}");
            using var data = _batches.Current;
            if (data.Step != batch.Step || data.Part != batch.Micro)
                throw new InvalidOperationException($"the data loader delivered part {data.Part} of step {data.Step}, expected {batch.Micro} of {batch.Step}");
            return SegmentationLosses.WithAuxiliary(_o.Loss, Model!, data.Images.to(Device), data.Labels.to(Device));
        }

        public override EvalPoint? Evaluate()
        {
            Last = trainer.Evaluate(Model!);
            return new EvalPoint(Last.Metrics.MIoU, $"mIoU {100 * Last.Metrics.MIoU:0.0}");
        }

        public override void Dispose()
        {
            _batches?.Dispose();
            _loader?.Dispose();
            base.Dispose();
        }
    }
}
