using System.Globalization;
using System.Text.Json;
using Tessera.Data;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Preconditioning;
using Tessera.Diffusion.Samplers;
using Tessera.IO;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Diffusion.Training;

/// <summary>Settings of a diffusion training run.</summary>
public sealed record DiffusionTrainOptions
{
    /// <summary>Network and formulation.</summary>
    public DiffusionModelConfig Model { get; init; } = new(UNet: new Networks.UNetConfig());
    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 20_000;
    /// <summary>Images per step.</summary>
    public int Batch { get; init; } = 64;
    /// <summary>Adam learning rate after warm-up.</summary>
    public double LearningRate { get; init; } = 2e-4;
    /// <summary>Linear warm-up of the learning rate, in steps.</summary>
    public int WarmupSteps { get; init; } = 500;
    /// <summary>Gradient clipping (global L2 norm; 0: off).</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Use AdamW with this weight decay instead of Adam (0: Adam).</summary>
    public double WeightDecay { get; init; }
    /// <summary>EMA half-life in thousands of images (EDM: 500 at full scale).</summary>
    public double EmaHalfLifeKimg { get; init; } = 50;
    /// <summary>EMA ramp-up ratio (half-life at most this fraction of images seen; 0: off).</summary>
    public double EmaRampRatio { get; init; } = 0.05;
    /// <summary>Probability of replacing a label by the null label (classifier-free guidance training).</summary>
    public double LabelDropout { get; init; } = 0.1;
    /// <summary>Checkpoint every N steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 1000;
    /// <summary>Sample grid every N steps (and at the end; 0: only at the end).</summary>
    public int SampleEvery { get; init; } = 2000;
    /// <summary>Also write a sample grid at the last step (callers that sample right after training turn it off).</summary>
    public bool FinalGrid { get; init; } = true;
    /// <summary>Seed of initialisation, data order and noise.</summary>
    public long Seed { get; init; }
    /// <summary>Fashion-MNIST folder (null: located as usual) when <see cref="ImageFolder"/> is null.</summary>
    public string? Data { get; init; }
    /// <summary>Train on this folder of images instead of Fashion-MNIST.</summary>
    public string? ImageFolder { get; init; }
    /// <summary>How folder images of other sizes are handled (Exact refuses them).</summary>
    public FitMode Fit { get; init; } = FitMode.Exact;
    /// <summary>Use only the first N training images (0: all).</summary>
    public int Limit { get; init; }
    /// <summary>Stop (with a checkpoint) after this step, as an interrupted run would; 0 runs to the end.</summary>
    public int StopAt { get; init; }
}

/// <summary>
/// Trains a diffusion model in the EDM framework (Karras et al. 2022, §5 and App. B–D; NVlabs/edm's training
/// loop): per step σ from the formulation's distribution, loss λ(σ)·‖D(x₀ + σε; σ) − x₀‖², Adam with linear
/// warm-up, gradient clipping, an EMA copy with EDM's half-life schedule, atomic checkpoints (network, EMA,
/// optimiser, step) from which a resumed run continues bit for bit — data order, σ, ε and label dropout are
/// functions of (seed, step) — a loss curve and sample grids. Ctrl-C writes a checkpoint; a non-finite loss stops
/// the run with the last good checkpoint intact. Every step runs in a dispose scope.
/// </summary>
public sealed class DiffusionTrainer
{
    private readonly DiffusionTrainOptions _o;
    private readonly torch.Device _device;

    /// <summary>Creates a trainer.</summary>
    public DiffusionTrainer(DiffusionTrainOptions options, torch.Device? device = null)
    {
        Runtime.TorchRuntime.EnsureInitialized();
        if (options.Steps < 1 || options.Batch < 1) throw new TesseraUserException("--steps and --batch must be at least 1");
        if (!(options.LearningRate > 0)) throw new TesseraUserException($"--lr: {options.LearningRate} must be positive");
        _o = options;
        _device = device ?? torch.CPU;
    }

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
        if (images.shape[0] < 1) throw new TesseraUserException("no training images");
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
        using var scope = torch.NewDisposeScope();
        long n = images.shape[0];
        var sigmas = DrawSigmas(n, g);
        var noise = torch.randn(images.shape, torch.ScalarType.Float32, generator: g).to(_device);
        torch.Tensor? classes = null;
        if (labels is not null && _o.Model.Classes > 0)
        {
            var drop = torch.rand(n, torch.ScalarType.Float64, generator: g).lt(_o.LabelDropout).to(_device);
            classes = torch.where(drop, torch.full_like(labels, _o.Model.Classes), labels);
        }
        double[] weights = _o.Model.Formulation == Formulation.Flow
            ? [.. sigmas.Select(s => Math.Pow((1 + s) / s, 2))] // ‖u − u*‖² = ((1 + σ)/σ)²·‖D − x₀‖²
            : model.Coefficients(sigmas).Weight.data<double>().ToArray();
        var sig = torch.tensor(sigmas).to(torch.ScalarType.Float32).to(_device).view(-1, 1, 1, 1);
        var denoised = model.Denoise(images + noise * sig, sigmas, classes);
        var w = torch.tensor(weights).to(torch.ScalarType.Float32).to(_device).view(-1, 1, 1, 1);
        return (w * (denoised - images).square()).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trains into <paramref name="runDir"/>: checkpoint.safetensors (resumable; its EMA weights sample),
    /// curve.csv, loss.png, samples/step-N.png and grid.png (the latest). Cancellation writes a checkpoint first.
    /// </summary>
    public double Train(string runDir, bool resume, Action<long, double, string?>? progress = null, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(runDir);
        string ckptPath = Path.Combine(runDir, "checkpoint.safetensors"), curvePath = Path.Combine(runDir, "curve.csv");
        torch.manual_seed(_o.Seed);
        using var model = new DiffusionModel(_o.Model);
        using var ema = new DiffusionModel(_o.Model);
        model.to(_device);
        ema.to(_device);
        using (torch.no_grad()) foreach (var (k, v) in ema.state_dict()) v.copy_(model.state_dict()[k]);
        ema.eval();
        using var optimizer = _o.WeightDecay > 0
            ? torch.optim.AdamW(model.parameters(), _o.LearningRate, weight_decay: _o.WeightDecay)
            : (torch.optim.Optimizer)torch.optim.Adam(model.parameters(), _o.LearningRate);
        var meta = new Dictionary<string, string>
        {
            ["format"] = "tessera.diffusion.training",
            ["diffusion.config"] = _o.Model.ToJson(),
            ["options"] = JsonSerializer.Serialize(_o with { Model = _o.Model }),
        };
        long start = 0;
        var curve = new LossCurve("ema loss");
        if (resume)
        {
            if (!File.Exists(ckptPath)) throw new TesseraUserException($"--resume: {ckptPath} does not exist");
            var header = SafeTensors.ReadHeader(ckptPath);
            // Compared after a round trip, so options added since the checkpoint was written count at their defaults.
            if (!header.Metadata.TryGetValue("diffusion.config", out string? cfg) || DiffusionModelConfig.FromJson(cfg, ckptPath).ToJson() != meta["diffusion.config"])
                throw new TesseraFormatException(ckptPath, "checkpoint was written for another network or formulation; use the same options or another --out");
            (start, _) = TrainingCheckpoint.Load(ckptPath, model, optimizer, ema);
            curve = LossCurve.LoadCsv(curvePath, "ema loss");
            curve.TruncateAfter(start);
        }
        var (images, labels) = LoadData();
        using var _i = images;
        using var _l = labels;
        var batcher = new Batcher(images, labels, new BatcherOptions(_o.Batch, Shuffle: true, Seed: (ulong)_o.Seed, DropLast: images.shape[0] >= _o.Batch, Prefetch: 2), _device);
        double last = double.NaN;
        void Save(long step)
        {
            // Never replace a good checkpoint with diverged weights.
            using (torch.no_grad())
                if (model.parameters().Any(p => !torch.isfinite(p).all().item<bool>()))
                    throw new InvalidOperationException($"weights are not finite after step {step}; stopped, the last good checkpoint is {ckptPath}");
            TrainingCheckpoint.Save(ckptPath, model, optimizer, step, meta, ema);
            curve.SaveCsv(curvePath);
        }
        using var batches = batcher.Forever(start, cancellation).GetEnumerator();
        for (long step = start; step < _o.Steps; step++)
        {
            if ((_o.StopAt > 0 && step >= _o.StopAt) || cancellation.IsCancellationRequested)
            {
                Save(step);
                cancellation.ThrowIfCancellationRequested();
                return last;
            }
            double loss;
            using (var scope = torch.NewDisposeScope())
            {
                model.train();
                if (!batches.MoveNext()) throw new InvalidOperationException("the batcher ended");
                using var batch = batches.Current;
                using var g = new torch.Generator((ulong)(_o.Seed * 1_000_003 + step + 1));
                double lr = _o.LearningRate * Math.Min(1, (step + 1) / (double)Math.Max(1, _o.WarmupSteps));
                foreach (var pg in optimizer.ParamGroups) pg.LearningRate = lr;
                optimizer.zero_grad();
                var l = Loss(model, batch.Inputs, batch.Targets, g);
                loss = l.item<float>();
                if (!double.IsFinite(loss))
                    throw new InvalidOperationException($"loss is {loss} at step {step}; stopped, the last good checkpoint is {ckptPath}" + (File.Exists(ckptPath) ? "" : " (none written yet)"));
                l.backward();
                if (_o.GradClip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), _o.GradClip);
                optimizer.step();
                Ema.Update(ema, model, Ema.Beta(_o.Batch, (step + 1) * _o.Batch, _o.EmaHalfLifeKimg * 1000, _o.EmaRampRatio));
            }
            last = loss;
            curve.AddTrain(step + 1, loss);
            string? status = null;
            bool end = step + 1 == _o.Steps;
            if ((step + 1) % _o.CheckpointEvery == 0 || end)
            {
                Save(step + 1);
                curve.SavePng(Path.Combine(runDir, "loss.png"), $"{_o.Model.Kind} ({_o.Model.Formulation}) training loss");
            }
            if ((_o.SampleEvery > 0 && (step + 1) % _o.SampleEvery == 0) || (end && _o.FinalGrid))
            {
                string samples = Path.Combine(runDir, "samples");
                Directory.CreateDirectory(samples);
                using var grid = SampleGrid(ema, 64, _device);
                ImageIO.SaveGrid(grid, Path.Combine(samples, $"step-{step + 1:D7}.png"));
                ImageIO.SaveGrid(grid, Path.Combine(runDir, "grid.png"));
                status = "wrote grid.png";
            }
            progress?.Invoke(step + 1, loss, status);
        }
        return last;
    }

    /// <summary>A fixed-seed preview: <paramref name="count"/> samples by Heun with 18 steps (35 NFE), classes cycling when conditional, in [0, 1].</summary>
    public static torch.Tensor SampleGrid(DiffusionModel model, int count, torch.Device device)
    {
        var c = model.Config;
        torch.Tensor? classes = c.Classes > 0 ? torch.arange(count, device: device).remainder(c.Classes) : null;
        using var images = Generate(model, "heun", 18, PerSampleNoise.Consecutive(0, count, device), count, classes, c.Classes > 0 ? 2.0 : 1.0, device);
        classes?.Dispose();
        return images.add(1).div(2).clamp(0, 1).cpu();
    }

    /// <summary>Samples in [−1, 1] with any sampler of the framework on the Karras grid (ρ = 7) of the model's σ range.</summary>
    public static torch.Tensor Generate(DiffusionModel model, string sampler, int steps, INoiseSource noise, int count, torch.Tensor? classes, double guidance, torch.Device device, SamplerOptions? options = null)
    {
        model.eval();
        var c = model.Config;
        var (sMin, sMax) = c.SigmaRange;
        var sigmas = SigmaGrids.Karras(steps, sMin, sMax);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = noise.Next(torch.empty(count, c.Channels, c.ImageSize, c.ImageSize, device: device)) * sigmas[0];
        var result = SamplerRegistry.Sample(sampler, model.AsDenoiser(classes, guidance), x, sigmas, noise, options);
        return result.MoveToOuterDisposeScope();
    }
}
