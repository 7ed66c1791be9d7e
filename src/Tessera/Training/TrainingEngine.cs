using Tessera.Runtime;
using Tessera.Training.Distributed;

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
/// <item>Data parallel (<see cref="Communicator"/> of several ranks): each step's <see cref="TrainingOptions.Batch"/>
/// examples form R·A micro-batches (R ranks, A = <see cref="TrainingOptions.Accumulate"/>); rank k computes micro-batches
/// k·A … k·A + A − 1 with their own (seed, step, micro-batch) randomness, so the union over ranks is exactly the batch of
/// one process with accumulation R·A (and, for a loss without per-batch statistics, with no accumulation). Rank 0's
/// weights are broadcast and checked at the start, gradients are summed in buckets (<see cref="GradientBuckets"/>),
/// batch-norm running statistics merged (<see cref="BatchNormMerge"/>), every rank takes the same optimiser step, and only
/// rank 0 writes files. A stop (cancellation) is agreed by all ranks at a step boundary. With
/// <see cref="TrainingOptions.SyncBatchNorm"/> the model is built with <see cref="SyncBatchNorm2d"/> layers, whose statistics
/// are those of micro-batch k of every rank together (nothing to merge after the step).</item>
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

    /// <summary>The ranks that train together (<see cref="SingleProcess"/>: this process alone).</summary>
    public ICommunicator Communicator { get; }

    /// <summary>Time the last <see cref="Run"/> spent summing gradients over the ranks (zero for one process).</summary>
    public TimeSpan AllReduceTime { get; private set; }

    /// <summary>Creates an engine.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="device">Where the model trains (CPU when null).</param>
    /// <param name="communicator">The ranks that train together (null: this process alone).</param>
    /// <exception cref="TesseraUserException">Settings out of range (named), or a batch that does not split over the ranks.</exception>
    public TrainingEngine(TrainingOptions options, torch.Device? device = null, ICommunicator? communicator = null)
    {
        options.Validate();
        Communicator = communicator ?? SingleProcess.Instance;
        int ranks = Communicator.Size;
        if (ranks > 1 && options.Batch % (ranks * options.Accumulate) != 0)
            throw new TesseraUserException(nameof(TrainingOptions.Batch), $"{options.Batch} must be a multiple of the ranks times Accumulate ({ranks}×{options.Accumulate}): each rank takes an equal slice of the batch");
        Options = options;
        Device = device ?? torch.CPU;
        PrecisionInfo.Require(options.Precision, Device, nameof(TrainingOptions.Precision));
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
    /// <paramref name="resume"/>. <paramref name="progress"/> gets a <see cref="TrainingProgress"/> after each step, on this thread.
    /// </summary>
    /// <exception cref="TesseraUserException">Resume without a checkpoint.</exception>
    /// <exception cref="TesseraFormatException">The checkpoint was written for another model configuration.</exception>
    /// <exception cref="InvalidOperationException">The loss or the weights became non-finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (after writing a checkpoint).</exception>
    public TrainingResult Run(ITrainingTask task, string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = Options;
        Directory.CreateDirectory(runDir);
        string ckptPath = Path.Combine(runDir, CheckpointFile), curvePath = Path.Combine(runDir, "curve.csv");
        if (resume && !File.Exists(ckptPath)) throw new TesseraUserException($"resume: {ckptPath} does not exist");
        torch.nn.Module model;
        using (o.SyncBatchNorm ? BatchNorms.Synchronised(Communicator) : null)
            model = StepRandom.Seeded(o.Seed, () => task.Build(Device, resume));
        string config = task.ModelConfigJson;
        if (resume)
        {
            string? saved = CheckpointMetadata.ModelConfig(SafeTensors.ReadHeader(ckptPath).Metadata, task.Kind);
            // Compared after a round trip, so options added since the checkpoint was written count at their defaults.
            if (saved is null || task.CanonicalConfig(saved, ckptPath) != config)
                throw new TesseraFormatException(ckptPath, $"checkpoint was written for another network or configuration of the {task.Kind.ToString().ToLowerInvariant()} model; train with the same model options or into another run folder");
        }
        var comm = Communicator;
        int ranks = comm.Size, micros = o.Accumulate * ranks, microSize = o.Batch / micros;
        bool writer = comm.Rank == 0;
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
        var buckets = new GradientBuckets(parameters);
        var norms = ranks > 1 ? new BatchNormMerge(model) : null;
        if (ranks > 1 && !ReplicaCheck.Synchronise(comm, model, task.Extra) && resume)
            throw new InvalidOperationException($"the ranks loaded different weights from {ckptPath}: every rank must read the same run folder (a shared file system)");
        task.Prepare(start, cancellation);
        // Several ranks stop together: the request is agreed at step boundaries (with the step's loss).
        bool stopRequested = cancellation.IsCancellationRequested;
        if (ranks > 1)
        {
            Span<double> flag = [stopRequested ? 1 : 0];
            comm.AllReduce(flag, ReduceOp.Max);
            stopRequested = flag[0] > 0;
        }

        void Save(long step)
        {
            // Never replace a good checkpoint with diverged weights.
            using (torch.no_grad())
                if (model.parameters().Any(p => !torch.isfinite(p).all().item<bool>()))
                    throw new InvalidOperationException($"weights are not finite after step {step}; stopped, the last good checkpoint is {ckptPath}");
            if (!writer) return;
            TrainingCheckpoint.Save(ckptPath, model, optimizer, step, meta, task.Extra);
            curve.SaveCsv(curvePath);
            task.AfterCheckpoint(runDir, step);
        }

        InvalidOperationException NonFinite(double value, long step) =>
            new($"loss is {value} at step {step}; stopped, the last good checkpoint is {ckptPath}" + (File.Exists(ckptPath) ? "" : " (none written yet)"));

        double last = double.NaN;
        bool evaluated = false;
        for (long step = start; step < o.Steps; step++)
        {
            // One process looks at the token itself; several act on the request they agreed on with the last step's loss.
            if (ranks == 1) stopRequested = cancellation.IsCancellationRequested;
            if ((o.StopAt > 0 && step >= o.StopAt) || stopRequested)
            {
                Save(step);
                AllReduceTime = buckets.Elapsed;
                if (stopRequested) throw new OperationCanceledException(cancellation.IsCancellationRequested ? cancellation : CancellationToken.None);
                return new TrainingResult(step, last, Stopped: true);
            }
            double loss = 0;
            using (var scope = torch.NewDisposeScope())
            {
                model.train();
                double lr = o.LearningRateAt(step);
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                optimizer.zero_grad();
                if (norms is { Any: true }) norms.Snapshot();
                for (int local = 0; local < o.Accumulate; local++)
                {
                    int micro = comm.Rank * o.Accumulate + local;
                    var batch = new MicroBatch(step, micro, micros, step * o.Batch + (long)micro * microSize, microSize);
                    using var generator = StepRandom.Generator(o.Seed, step, micro);
                    try
                    {
                        torch.Tensor l;
                        // Mixed precision (TrainingOptions.Precision): the forward pass and loss under autocast, the loss in float32.
                        using (StepRandom.GlobalScope(StepRandom.GlobalSeedOf(o.Seed, step, micro)))
                        using (Autocast.Begin(o.Precision, Device))
                            l = task.Loss(batch, generator);
                        if (l.dtype != torch.ScalarType.Float32) l = l.to(torch.ScalarType.Float32);
                        double value = l.item<float>(); // the one host read of the micro-batch
                        if (ranks == 1 && !double.IsFinite(value)) throw NonFinite(value, step);
                        (micros == 1 ? l : l / micros).backward();
                        loss += value;
                    }
                    catch (System.Runtime.InteropServices.ExternalException e) when (e.Message.Contains("overflow", StringComparison.OrdinalIgnoreCase))
                    {
                        // Diverged weights can overflow inside a kernel before the loss is read: the same stop as a non-finite loss.
                        throw new InvalidOperationException($"training diverged at step {step} (libtorch: {e.Message.Split('\n')[0].Split(" Exception raised")[0]}); stopped, the last good checkpoint is {ckptPath}", e);
                    }
                }
                if (ranks > 1)
                {
                    buckets.AllReduce(comm);
                    norms?.Merge(comm, o.Accumulate);
                    Span<double> sums = [loss, cancellation.IsCancellationRequested ? 1 : 0];
                    comm.AllReduce(sums, ReduceOp.Sum);
                    (loss, stopRequested) = (sums[0], sums[1] > 0);
                    if (!double.IsFinite(loss)) throw NonFinite(loss, step);
                }
                loss /= micros;
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
                if (writer) o.CurvePlotter?.Plot(curve, Path.Combine(runDir, "loss.png"), task.PlotTitle);
            }
            if (writer && ((o.SampleEvery > 0 && (step + 1) % o.SampleEvery == 0) || (end && o.PreviewAtEnd)))
                status = task.Preview(runDir, step + 1) ?? status;
            progress?.Report(new TrainingProgress(step + 1, loss, status));
        }
        // A run resumed after its end evaluates what it has, so the caller always gets a final evaluation.
        if (!evaluated) task.Evaluate();
        AllReduceTime = buckets.Elapsed;
        return new TrainingResult(Math.Max(start, o.Steps), last, Stopped: false);
    }
}
