using Tessera.Diffusion.Models;
using Tessera.Diffusion.Preconditioning;
using Tessera.Diffusion.Sampling;
using Tessera.Training.Distributed;

namespace Tessera.Diffusion.Training;

/// <summary>Settings of a diffusion training run.</summary>
public sealed record DiffusionTrainOptions
{
    /// <summary>
    /// The engine settings of a diffusion run when none are given: 20,000 steps of 64 images, Adam at 2·10⁻⁴ with
    /// 500 warm-up steps and a constant rate, gradient clipping at 1, a checkpoint every 1,000 and a sample grid
    /// every 2,000 steps.
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Steps = 20_000,
        Batch = 64,
        LearningRate = 2e-4,
        Optimizer = OptimizerKind.Adam,
        GradClip = 1.0,
        WarmupSteps = 500,
        Schedule = LearningRateSchedule.Constant,
        CheckpointEvery = 1000,
        SampleEvery = 2000,
    };

    /// <summary>Network and formulation.</summary>
    public DiffusionModelConfig Model { get; init; } = new(UNet: new Networks.UNetConfig());
    /// <summary>Optimiser, schedule, length, cadences and seed (seed of initialisation, data order and noise).</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;
    /// <summary>EMA half-life in thousands of images (EDM: 500 at full scale).</summary>
    public double EmaHalfLifeKimg { get; init; } = 50;
    /// <summary>EMA ramp-up ratio (half-life at most this fraction of images seen; 0: off).</summary>
    public double EmaRampRatio { get; init; } = 0.05;
    /// <summary>Probability of replacing a label by the null label (classifier-free guidance training).</summary>
    public double LabelDropout { get; init; } = 0.1;
    /// <summary>Fashion-MNIST folder (null: located as usual) when <see cref="ImageFolder"/> is null.</summary>
    public string? Data { get; init; }
    /// <summary>Train on this folder of images instead of Fashion-MNIST.</summary>
    public string? ImageFolder { get; init; }
    /// <summary>How folder images of other sizes are handled (Exact refuses them).</summary>
    public FitMode Fit { get; init; } = FitMode.Exact;
    /// <summary>Use only the first N training images (0: all).</summary>
    public int Limit { get; init; }
}

/// <summary>
/// Trains a diffusion model in the EDM framework (Karras et al. 2022, §5 and App. B–D; NVlabs/edm's training
/// loop): per step σ from the formulation's distribution, loss λ(σ)·‖D(x₀ + σε; σ) − x₀‖², and an EMA copy with
/// EDM's half-life schedule saved in the checkpoint (its weights sample). Data order, σ, ε and label dropout are
/// functions of (seed, step); the loop itself (optimiser, warm-up, clipping, checkpoints, resume, stop, Ctrl-C,
/// finite-loss guard) is <see cref="TrainingEngine"/>'s.
/// </summary>
public sealed class DiffusionTrainer
{
    private readonly DiffusionTrainOptions _o;
    private readonly TrainingEngine _engine;

    /// <summary>Creates a trainer; with a <paramref name="communicator"/> of several ranks it trains data-parallel (<see cref="TrainingEngine"/>).</summary>
    /// <exception cref="TesseraUserException">Settings out of range (named).</exception>
    public DiffusionTrainer(DiffusionTrainOptions options, torch.Device? device = null, ICommunicator? communicator = null)
    {
        _o = options;
        _engine = new TrainingEngine(options.Training, device, communicator);
    }

    /// <summary>Time the last training run spent summing gradients over the ranks (zero in one process).</summary>
    public TimeSpan AllReduceTime => _engine.AllReduceTime;

    /// <summary>Training images in [−1, 1] [N, C, S, S] and labels [N] (CPU).</summary>
    public (torch.Tensor Images, torch.Tensor Labels) LoadData()
    {
        var c = _o.Model;
        torch.Tensor images, labels;
        if (_o.ImageFolder is not null)
        {
            var folder = new ImageFolder(_o.ImageFolder, new ImageFolderOptions(c.ImageSize, c.Channels == 1 ? ColorMode.Gray : ColorMode.Rgb, _o.Fit));
            var (x, y) = folder.LoadAll();
            using (x) images = x.to(torch.ScalarType.Float32).div(127.5f).sub(1f);
            labels = y;
        }
        else
        {
            if (c.Channels != 1 || c.ImageSize != 28) throw new TesseraUserException($"Fashion-MNIST is 28×28 gray, but the model expects {c.ImageSize}×{c.ImageSize} with {c.Channels} channel(s): use image size 28 and 1 channel, or train on an image folder");
            using var data = FashionMnist.Load(Split.Train, _o.Data);
            images = data.ImagesAsFloat(null, -1f, 1f);
            labels = data.Labels.to(torch.ScalarType.Int64);
        }
        if (_o.Limit > 0 && _o.Limit < images.shape[0])
        {
            var (allImages, allLabels) = (images, labels);
            images = allImages[..(int)_o.Limit].clone();
            labels = allLabels[..(int)_o.Limit].clone();
            allImages.Dispose();
            allLabels.Dispose();
        }
        if (images.shape[0] < 1) throw new TesseraUserException("no training images (ImageFolder or Limit)");
        return (images, labels);
    }

    /// <summary>The σ draws of one step (float64, CPU), from its generator.</summary>
    private double[] DrawSigmas(long n, torch.Generator g) => (_o.Model.Formulation switch
    {
        Formulation.Vp => TrainingNoise.VpUniform(n, new VpPrecond(), generator: g),
        Formulation.Ve => TrainingNoise.VeLogUniform(n, generator: g),
        Formulation.Flow => TrainingNoise.FlowLogitNormal(n, g),
        _ => TrainingNoise.EdmLogNormal(n, g),
    }).data<double>().ToArray();

    /// <summary>The loss of one batch (images in [−1, 1], labels or null) with the step's generator.</summary>
    public torch.Tensor Loss(DiffusionModel model, torch.Tensor images, torch.Tensor? labels, torch.Generator g)
    {
        var device = images.device;
        using var scope = torch.NewDisposeScope();
        long n = images.shape[0];
        var sigmas = DrawSigmas(n, g);
        var noise = torch.randn(images.shape, torch.ScalarType.Float32, generator: g).to(device);
        torch.Tensor? classes = null;
        if (labels is not null && _o.Model.Classes > 0)
        {
            var drop = torch.rand(n, torch.ScalarType.Float64, generator: g).lt(_o.LabelDropout).to(device);
            classes = torch.where(drop, torch.full_like(labels, _o.Model.Classes), labels);
        }
        double[] weights = _o.Model.Formulation == Formulation.Flow
            ? [.. sigmas.Select(s => Math.Pow((1 + s) / s, 2))] // ‖u − u*‖² = ((1 + σ)/σ)²·‖D − x₀‖²
            : model.Coefficients(sigmas).Weight.data<double>().ToArray();
        var sig = torch.tensor(sigmas).to(torch.ScalarType.Float32).to(device).view(-1, 1, 1, 1);
        var denoised = model.Denoise(images + noise * sig, sigmas, classes);
        var w = torch.tensor(weights).to(torch.ScalarType.Float32).to(device).view(-1, 1, 1, 1);
        return (w * (denoised - images).square()).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trains into <paramref name="runDir"/>: checkpoint.safetensors (resumable; its EMA weights sample),
    /// curve.csv, loss.png, samples/step-N.png and grid.png (the latest). Returns the last step's loss.
    /// </summary>
    public double Train(string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var task = new DiffusionTask(this);
        return _engine.Run(task, runDir, resume, progress, cancellation).LastLoss;
    }

    /// <summary>The diffusion family as a task of the engine: the model, its EMA copy, and Fashion-MNIST or a folder in shuffled batches.</summary>
    private sealed class DiffusionTask(DiffusionTrainer trainer) : ITrainingTask
    {
        private readonly DiffusionTrainOptions _o = trainer._o;
        private readonly torch.Device _device = trainer._engine.Device;
        private DiffusionModel? _model, _ema;
        private torch.Tensor? _images, _labels;
        private IEnumerator<Batch>? _batches;
        private Batch? _current;

        public ModelKind Kind => ModelKind.Diffusion;
        public string ModelConfigJson => _o.Model.ToJson();
        public string TaskOptionsJson => JsonSerializer.Serialize(_o with { Model = _o.Model });
        public string EvalName => "ema loss";
        public string PlotTitle => $"{EnumNames.Name(_o.Model.Kind)} ({_o.Model.Formulation}) training loss";
        public torch.nn.Module? Extra => _ema;

        public string CanonicalConfig(string json, string path) => DiffusionModelConfig.FromJson(json, path).ToJson();

        public torch.nn.Module Build(torch.Device device, bool resume)
        {
            _model = new DiffusionModel(_o.Model);
            _ema = new DiffusionModel(_o.Model);
            _model.to(device);
            _ema.to(device);
            using (torch.no_grad()) foreach (var (k, v) in _ema.state_dict()) v.copy_(_model.state_dict()[k]);
            _ema.eval();
            return _model;
        }

        public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => _model!.parameters();

        public void Prepare(long startStep, CancellationToken cancellation)
        {
            (_images, _labels) = trainer.LoadData();
            var t = _o.Training;
            var batcher = new Batcher(_images, _labels, new BatcherOptions(t.Batch, Shuffle: true, Seed: (ulong)t.Seed, DropLast: _images.shape[0] >= t.Batch, Prefetch: 2), _device);
            _batches = batcher.Forever(startStep, cancellation).GetEnumerator();
        }

        public torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            // One batch of the shuffled stream per step (taken by the step's first micro-batch on this rank, AfterStep
            // releases it); micro-batches are consecutive slices of it, a rank's are its own (MicroBatch.Micro is global).
            if (_current is null)
            {
                if (!_batches!.MoveNext()) throw new InvalidOperationException("the batcher ended");
                _current = _batches.Current;
            }
            var all = _current!;
            long n = all.Inputs.shape[0], first = Math.Min(n, (long)batch.Micro * batch.Count), count = Math.Min(batch.Count, n - first);
            if (batch.Micros == 1) return trainer.Loss(_model!, all.Inputs, all.Targets, generator);
            return trainer.Loss(_model!, all.Inputs.narrow(0, first, count), all.Targets?.narrow(0, first, count), generator);
        }

        public void AfterStep(long stepsDone)
        {
            var t = _o.Training;
            Ema.Update(_ema!, _model!, Ema.Beta(t.Batch, stepsDone * t.Batch, _o.EmaHalfLifeKimg * 1000, _o.EmaRampRatio));
            _current?.Dispose();
            _current = null;
        }


        public string? Preview(string runDir, long step)
        {
            string samples = Path.Combine(runDir, "samples");
            Directory.CreateDirectory(samples);
            using var grid = SampleGrid(_ema!, 64, _device);
            ImageIO.SaveGrid(grid, Path.Combine(samples, $"step-{step:D7}.png"));
            ImageIO.SaveGrid(grid, Path.Combine(runDir, "grid.png"));
            return "wrote grid.png";
        }


        public void Dispose()
        {
            _current?.Dispose();
            _batches?.Dispose();
            _images?.Dispose();
            _labels?.Dispose();
            _model?.Dispose();
            _ema?.Dispose();
        }
    }

    /// <summary>
    /// A fixed-seed preview: <paramref name="count"/> samples of seeds 0 … count − 1 by Heun with 18 steps (35 NFE), in [0, 1]
    /// on the CPU; conditional models with guidance 2 and the labels of <see cref="DiffusionSamplingOptions.LabelOf"/> (the classes in turn).
    /// </summary>
    public static torch.Tensor SampleGrid(DiffusionModel model, int count, torch.Device device) =>
        DiffusionSampling.Sample(model, DiffusionSampling.ConsecutiveSeeds(0, count),
            new DiffusionSamplingOptions { Sampler = "heun", Steps = 18, Batch = Math.Max(1, count), Guidance = model.Config.Classes > 0 ? 2.0 : 1.0 }, device);
}
