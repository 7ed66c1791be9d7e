using System.Text.Json;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Training;

/// <summary>How a call of <see cref="TrainingEngine.Run"/> ended.</summary>
/// <param name="Step">Optimiser steps done when it returned.</param>
/// <param name="LastLoss">The last step's training loss (NaN if none ran).</param>
/// <param name="Stopped">True when <see cref="TrainingOptions.StopAt"/> ended it early (a checkpoint was written, no evaluation ran).</param>
public sealed record TrainingResult(long Step, double LastLoss, bool Stopped);

/// <summary>
/// The training loop every model family shares; an <see cref="ITrainingTask"/> supplies the model and the loss.
/// The engine owns the run folder (checkpoint.safetensors, curve.csv, loss.png), resume with a configuration check,
/// the optimiser (Adam, AdamW, SGD with momentum) with weight decay, gradient clipping, linear warm-up and the
/// learning-rate schedule, gradient accumulation, the finite-loss guard, the checkpoint/evaluation/preview cadence,
/// <see cref="TrainingOptions.StopAt"/> and cancellation.
/// <list type="bullet">
/// <item>Every step runs in a dispose scope; its randomness comes from <see cref="StepRandom"/>, a function of (seed, step,
/// micro-batch), so a resumed run continues bit for bit.</item>
/// <item>Accumulation: each of the <see cref="TrainingOptions.Accumulate"/> micro-batches contributes its mean loss
/// divided by their number, so the gradient is that of the mean over the whole batch.</item>
/// <item>Stop-at: before step <see cref="TrainingOptions.StopAt"/> the engine writes a checkpoint and returns
/// (<see cref="TrainingResult.Stopped"/>) without evaluating or previewing, exactly as an interrupted run would be left.</item>
/// <item>Cancellation: the engine writes a checkpoint, then throws <see cref="OperationCanceledException"/>.</item>
/// <item>A non-finite loss (or non-finite weights at a checkpoint) stops the run with <see cref="InvalidOperationException"/>
/// before anything is written, so the last good checkpoint stays intact.</item>
/// </list>
/// </summary>
public sealed class TrainingEngine
{
    /// <summary>Name of the resumable checkpoint in the run folder.</summary>
    public const string CheckpointFile = "checkpoint.safetensors";

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Where the model trains.</summary>
    public torch.Device Device { get; }

    /// <summary>Creates an engine.</summary>
    /// <exception cref="TesseraUserException">Settings out of range (named).</exception>
    public TrainingEngine(TrainingOptions options, torch.Device? device = null)
    {
        options.Validate();
        Options = options;
        Device = device ?? torch.CPU;
    }

    /// <summary>The optimiser of <see cref="TrainingOptions.Optimizer"/> over <paramref name="parameters"/> at the peak rate.</summary>
    public torch.optim.Optimizer CreateOptimizer(IEnumerable<TorchSharp.Modules.Parameter> parameters) => Options.Optimizer switch
    {
        OptimizerKind.AdamW => torch.optim.AdamW(parameters, Options.LearningRate, weight_decay: Options.WeightDecay),
        OptimizerKind.Sgd => torch.optim.SGD(parameters, Options.LearningRate, momentum: 0.9, weight_decay: Options.WeightDecay),
        _ => torch.optim.Adam(parameters, Options.LearningRate, weight_decay: Options.WeightDecay),
    };

    /// <summary>
    /// Trains <paramref name="task"/> into <paramref name="runDir"/>, continuing from its checkpoint when
    /// <paramref name="resume"/>. <paramref name="progress"/> gets (steps done, loss, status or null) after each step.
    /// </summary>
    /// <exception cref="TesseraUserException">Resume without a checkpoint.</exception>
    /// <exception cref="TesseraFormatException">The checkpoint was written for another model configuration.</exception>
    /// <exception cref="InvalidOperationException">The loss or the weights became non-finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (after writing a checkpoint).</exception>
    public TrainingResult Run(ITrainingTask task, string runDir, bool resume, Action<long, double, string?>? progress = null, CancellationToken cancellation = default)
    {
        var o = Options;
        Directory.CreateDirectory(runDir);
        string ckptPath = Path.Combine(runDir, CheckpointFile), curvePath = Path.Combine(runDir, "curve.csv");
        if (resume && !File.Exists(ckptPath)) throw new TesseraUserException($"resume: {ckptPath} does not exist");
        var model = StepRandom.Seeded(o.Seed, () => task.Build(Device, resume));
        string config = task.ModelConfigJson;
        if (resume)
        {
            string? saved = CheckpointMetadata.ModelConfig(SafeTensors.ReadHeader(ckptPath).Metadata, task.Kind);
            // Compared after a round trip, so options added since the checkpoint was written count at their defaults.
            if (saved is null || task.CanonicalConfig(saved, ckptPath) != config)
                throw new TesseraFormatException(ckptPath, $"checkpoint was written for another network or configuration of the {task.Kind.ToString().ToLowerInvariant()} model; train with the same model options or into another run folder");
        }
        var parameters = task.Parameters().ToList();
        using var optimizer = CreateOptimizer(parameters);
        var meta = CheckpointMetadata.For(task.Kind, config, new Dictionary<string, string>
        {
            [CheckpointMetadata.TrainingKey] = JsonSerializer.Serialize(o),
            [CheckpointMetadata.TaskKey] = task.TaskOptionsJson,
        });
        long start = 0;
        var curve = new LossCurve(task.EvalName);
        if (resume)
        {
            (start, _) = TrainingCheckpoint.Load(ckptPath, model, optimizer, task.Extra);
            curve = LossCurve.LoadCsv(curvePath, task.EvalName);
            curve.TruncateAfter(start);
        }
        task.Prepare(start, cancellation);

        void Save(long step)
        {
            // Never replace a good checkpoint with diverged weights.
            using (torch.no_grad())
                if (model.parameters().Any(p => !torch.isfinite(p).all().item<bool>()))
                    throw new InvalidOperationException($"weights are not finite after step {step}; stopped, the last good checkpoint is {ckptPath}");
            TrainingCheckpoint.Save(ckptPath, model, optimizer, step, meta, task.Extra);
            curve.SaveCsv(curvePath);
            task.AfterCheckpoint(runDir, step);
        }

        double last = double.NaN;
        bool evaluated = false;
        for (long step = start; step < o.Steps; step++)
        {
            if ((o.StopAt > 0 && step >= o.StopAt) || cancellation.IsCancellationRequested)
            {
                Save(step);
                cancellation.ThrowIfCancellationRequested();
                return new TrainingResult(step, last, Stopped: true);
            }
            double loss = 0;
            using (var scope = torch.NewDisposeScope())
            {
                model.train();
                double lr = o.LearningRateAt(step);
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                optimizer.zero_grad();
                for (int micro = 0; micro < o.Accumulate; micro++)
                {
                    var batch = new MicroBatch(step, micro, o.Accumulate, step * o.Batch + (long)micro * o.MicroBatch, o.MicroBatch);
                    using var generator = StepRandom.Generator(o.Seed, step, micro);
                    try
                    {
                        torch.Tensor l;
                        using (StepRandom.GlobalScope(StepRandom.GlobalSeedOf(o.Seed, step, micro))) l = task.Loss(batch, generator);
                        double value = l.item<float>(); // the one host read of the micro-batch
                        if (!double.IsFinite(value))
                            throw new InvalidOperationException($"loss is {value} at step {step}; stopped, the last good checkpoint is {ckptPath}" + (File.Exists(ckptPath) ? "" : " (none written yet)"));
                        (o.Accumulate == 1 ? l : l / o.Accumulate).backward();
                        loss += value;
                    }
                    catch (System.Runtime.InteropServices.ExternalException e) when (e.Message.Contains("overflow", StringComparison.OrdinalIgnoreCase))
                    {
                        // Diverged weights can overflow inside a kernel before the loss is read: the same stop as a non-finite loss.
                        throw new InvalidOperationException($"training diverged at step {step} (libtorch: {e.Message.Split('\n')[0].Split(" Exception raised")[0]}); stopped, the last good checkpoint is {ckptPath}", e);
                    }
                }
                loss /= o.Accumulate;
                if (o.GradClip > 0) torch.nn.utils.clip_grad_norm_(parameters, o.GradClip);
                optimizer.step();
                task.AfterStep(step + 1);
            }
            last = loss;
            curve.AddTrain(step + 1, loss);
            string? status = null;
            bool end = step + 1 == o.Steps;
            if ((o.EvalEvery > 0 && (step + 1) % o.EvalEvery == 0) || end)
            {
                if (task.Evaluate() is EvalPoint point)
                {
                    curve.AddEval(step + 1, point.Value);
                    status = point.Status;
                }
                evaluated = end;
            }
            if ((step + 1) % o.CheckpointEvery == 0 || end)
            {
                Save(step + 1);
                o.CurvePlotter?.Plot(curve, Path.Combine(runDir, "loss.png"), task.PlotTitle);
            }
            if ((o.SampleEvery > 0 && (step + 1) % o.SampleEvery == 0) || (end && o.PreviewAtEnd))
                status = task.Preview(runDir, step + 1) ?? status;
            progress?.Invoke(step + 1, loss, status);
        }
        // A run resumed after its end evaluates what it has, so the caller always gets a final evaluation.
        if (!evaluated) task.Evaluate();
        return new TrainingResult(Math.Max(start, o.Steps), last, Stopped: false);
    }
}
