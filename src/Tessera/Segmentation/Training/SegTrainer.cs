using System.Globalization;
using System.Text.Json;
using Tessera.Data;
using Tessera.IO;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Metrics;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Segmentation.Training;

/// <summary>Settings of a segmentation training run.</summary>
public sealed record SegTrainOptions
{
    /// <summary>The model.</summary>
    public SegModelConfig Model { get; init; } = new();
    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 1500;
    /// <summary>Scenes per step.</summary>
    public int Batch { get; init; } = 16;
    /// <summary>AdamW peak learning rate (linear warm-up over 100 steps, then cosine decay).</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Loss: ce, dice, focal or a sum such as ce+dice.</summary>
    public string Loss { get; init; } = "ce";
    /// <summary>Evaluate on the validation scenes every N steps (and at the end).</summary>
    public int EvalEvery { get; init; } = 500;
    /// <summary>Validation scenes.</summary>
    public int EvalScenes { get; init; } = 256;
    /// <summary>Write a checkpoint every N steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>Scene settings (canvas, items, seed).</summary>
    public SceneOptions Scenes { get; init; } = new();
    /// <summary>Seed of initialisation and dropout.</summary>
    public long Seed { get; init; }
    /// <summary>Where Fashion-MNIST is (null: located as usual).</summary>
    public string? Data { get; init; }
    /// <summary>Stop (with a checkpoint) after this step, as an interrupted run would; 0 runs to the end.</summary>
    public int StopAt { get; init; }
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
/// Trains a segmentation model on Fashion-MNIST scenes: AdamW with warm-up and cosine decay, batches and
/// dropout determined by (seed, step) so that a resumed run continues bit for bit, atomic checkpoints, a loss
/// curve, periodic validation. Every step runs in a dispose scope.
/// </summary>
public sealed class SegTrainer
{
    private readonly SegTrainOptions _o;
    private readonly torch.Device _device;

    /// <summary>Creates a trainer.</summary>
    public SegTrainer(SegTrainOptions options, torch.Device? device = null)
    {
        Runtime.TorchRuntime.EnsureInitialized();
        options.Model.Validate();
        if (!SegmentationLosses.IsValid(options.Loss)) throw new TesseraUserException($"--loss: '{options.Loss}'; expected ce, dice, focal or a sum such as ce+dice");
        if (options.Steps < 1 || options.Batch < 1) throw new TesseraUserException("--steps and --batch must be at least 1");
        _o = options;
        _device = device ?? torch.CPU;
    }

    /// <summary>The checkpoint metadata of this run.</summary>
    public Dictionary<string, string> Metadata() => new()
    {
        ["format"] = "tessera.segmentation",
        ["config"] = _o.Model.ToJson(),
        ["options"] = JsonSerializer.Serialize(_o with { Model = _o.Model }),
    };

    /// <summary>
    /// Trains into <paramref name="runDir"/> (checkpoint.safetensors, curve.csv, loss.png, metrics.json);
    /// resumes from its checkpoint when <paramref name="resume"/>. Cancellation writes a checkpoint first.
    /// </summary>
    public SegEvaluation Train(string runDir, bool resume, Action<long, double, string?>? progress = null, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(runDir);
        string ckptPath = Path.Combine(runDir, "checkpoint.safetensors"), curvePath = Path.Combine(runDir, "curve.csv");
        torch.manual_seed(_o.Seed);
        var model = _o.Model.Build();
        if (_o.BackboneWeights is not null && !resume)
        {
            if (_o.Model.SmallStem || _o.Model.BaseWidth != 64)
                throw new TesseraUserException("--backbone-weights: torchvision weights need the torchvision layout (width 64, standard stem)");
            var backbone = model switch
            {
                Models.GcnNet g => g.Backbone,
                Models.DeepLabV3 d => d.Backbone,
                Models.Fcn f => f.Backbone,
                _ => throw new InvalidOperationException(model.GetType().Name),
            };
            backbone.LoadTorchvision(_o.BackboneWeights);
        }
        model.to(_device);
        var optimizer = torch.optim.AdamW(model.parameters(), _o.LearningRate, weight_decay: 1e-4);
        long start = 0;
        var curve = new LossCurve("mIoU");
        if (resume)
        {
            if (!File.Exists(ckptPath)) throw new TesseraUserException($"--resume: {ckptPath} does not exist");
            var (step, meta) = TrainingCheckpoint.Load(ckptPath, model, optimizer);
            if (!meta.TryGetValue("config", out string? cfg) || SegModelConfig.FromJson(cfg, ckptPath).ToJson() != _o.Model.ToJson())
                throw new TesseraFormatException(ckptPath, "checkpoint was written for another model configuration; use the same options or another --out");
            start = step;
            curve = LossCurve.LoadCsv(curvePath, "mIoU");
            curve.TruncateAfter(start);
        }
        using var trainData = FashionMnist.Load(Split.Train, _o.Data);
        var scenes = new FashionMnistScenes(trainData, _o.Scenes);
        SegEvaluation? last = null;
        var meta0 = Metadata();
        for (long step = start; step < _o.Steps; step++)
        {
            if (_o.StopAt > 0 && step >= _o.StopAt)
            {
                TrainingCheckpoint.Save(ckptPath, model, optimizer, step, meta0);
                curve.SaveCsv(curvePath);
                break;
            }
            if (cancellation.IsCancellationRequested)
            {
                TrainingCheckpoint.Save(ckptPath, model, optimizer, step, meta0);
                curve.SaveCsv(curvePath);
                cancellation.ThrowIfCancellationRequested();
            }
            double loss;
            using (var scope = torch.NewDisposeScope())
            {
                model.train();
                torch.manual_seed(_o.Seed * 1_000_003 + step);  // dropout of step s is the same in a resumed run
                using var batch = scenes.Generate(step * _o.Batch, _o.Batch);
                double lr = _o.LearningRate * Math.Min(1, (step + 1) / 100.0) * 0.5 * (1 + Math.Cos(Math.PI * step / _o.Steps));
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                optimizer.zero_grad();
                var logits = model.forward(batch.Images.to(_device));
                var l = SegmentationLosses.Named(_o.Loss, logits, batch.Labels.to(_device));
                loss = l.item<float>(); // the one host read of the step
                if (!double.IsFinite(loss))
                    throw new InvalidOperationException($"loss is {loss} at step {step}; the last good checkpoint is {ckptPath}");
                l.backward();
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0);
                optimizer.step();
            }
            curve.AddTrain(step + 1, loss);
            string? status = null;
            if ((step + 1) % _o.EvalEvery == 0 || step + 1 == _o.Steps)
            {
                last = Evaluate(model, _o, _device);
                curve.AddEval(step + 1, last.Metrics.MIoU);
                status = $"mIoU {100 * last.Metrics.MIoU:0.0}";
            }
            if ((step + 1) % _o.CheckpointEvery == 0 || step + 1 == _o.Steps)
            {
                TrainingCheckpoint.Save(ckptPath, model, optimizer, step + 1, meta0);
                curve.SaveCsv(curvePath);
                curve.SavePng(Path.Combine(runDir, "loss.png"), $"{_o.Model.Model} on Fashion-MNIST scenes");
            }
            progress?.Invoke(step + 1, loss, status);
        }
        last ??= Evaluate(model, _o, _device);
        AtomicFile.WriteAllText(Path.Combine(runDir, "metrics.json"), FolderEvaluation.ToJson(last.Metrics, last.Confusion, _o.EvalScenes));
        model.Dispose();
        optimizer.Dispose();
        return last;
    }

    /// <summary>Validation on the first N scenes made from Fashion-MNIST's test images.</summary>
    public static SegEvaluation Evaluate(torch.nn.Module<torch.Tensor, torch.Tensor> model, SegTrainOptions o, torch.Device device)
    {
        model.eval();
        using var test = FashionMnist.Load(Split.Test, o.Data);
        var scenes = new FashionMnistScenes(test, o.Scenes with { IgnoreBand = false });
        var all = new ConfusionMatrix(o.Model.Classes);
        var band = new ConfusionMatrix(o.Model.Classes);
        var interior = new ConfusionMatrix(o.Model.Classes);
        using (torch.no_grad())
        {
            for (int first = 0; first < o.EvalScenes; first += 32)
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
        return new SegEvaluation(SegmentationMetrics.Compute(all, FashionMnistScenes.ClassNames), SegmentationMetrics.Compute(band).MIoU, SegmentationMetrics.Compute(interior).MIoU, all);
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
