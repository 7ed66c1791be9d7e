using Tessera.Runtime;

namespace Tessera.Training;

/// <summary>The optimiser a training run uses.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OptimizerKind>))]
public enum OptimizerKind
{
    /// <summary>Adam (Kingma and Ba 2015); weight decay, if any, is an L2 term added to the gradient.</summary>
    Adam,
    /// <summary>AdamW (Loshchilov and Hutter 2019): Adam with decoupled weight decay.</summary>
    AdamW,
    /// <summary>SGD with momentum 0.9; weight decay, if any, is an L2 term added to the gradient.</summary>
    Sgd,
}

/// <summary>How the learning rate decays after warm-up.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LearningRateSchedule>))]
public enum LearningRateSchedule
{
    /// <summary>The peak rate throughout.</summary>
    Constant,
    /// <summary>Cosine decay (Loshchilov and Hutter 2017, SGDR eq. 5 with one cycle): ½(1 + cos(π·t/T)).</summary>
    Cosine,
    /// <summary>DeepLab's "poly" policy (Chen et al. 2017, DeepLabv3 §4.1): (1 − t/T)^0.9.</summary>
    Poly,
}

/// <summary>
/// Settings every training run shares, owned by <see cref="TrainingEngine"/>: length, batch, optimiser, schedule,
/// clipping, cadences and seed. Each family has its defaults (<c>DiffusionTrainOptions.DefaultTraining</c> and the
/// like); they are recorded in every checkpoint under <see cref="CheckpointMetadata.TrainingKey"/>.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 1000;
    /// <summary>Examples per optimiser step (split into <see cref="Accumulate"/> micro-batches).</summary>
    public int Batch { get; init; } = 16;
    /// <summary>Peak learning rate (after warm-up).</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>The optimiser.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    /// <summary>Weight decay (decoupled for AdamW, an L2 term for Adam and SGD; 0: none).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Gradient clipping: the global L2 norm of the gradients is scaled down to at most this (0: off).</summary>
    public double GradClip { get; init; }
    /// <summary>Linear warm-up of the learning rate over this many steps (0: none).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Decay of the learning rate over the run.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;
    /// <summary>Evaluate every N steps (0: only at the end); a task without evaluation ignores it.</summary>
    public int EvalEvery { get; init; }
    /// <summary>Write a checkpoint every N steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 1000;
    /// <summary>Write a preview (sample grid) every N steps (0: only at the end, if <see cref="PreviewAtEnd"/>).</summary>
    public int SampleEvery { get; init; }
    /// <summary>Write a preview at the last step (callers that sample right after training turn it off).</summary>
    public bool PreviewAtEnd { get; init; } = true;
    /// <summary>Stop before this step with a checkpoint and return without evaluating, as an interrupted run would; 0 runs to the end.</summary>
    public int StopAt { get; init; }
    /// <summary>Seed of initialisation, data order and every random draw of a step.</summary>
    public long Seed { get; init; }
    /// <summary>Micro-batches per optimiser step (gradient accumulation); <see cref="Batch"/> must be a multiple of it.</summary>
    public int Accumulate { get; init; } = 1;
    /// <summary>
    /// Synchronised BatchNorm: the model's batch norms (those built through <see cref="Distributed.BatchNorms"/>) normalise
    /// with the statistics of the micro-batch over all ranks (<see cref="Distributed.SyncBatchNorm2d"/>), as mmsegmentation
    /// trains; false: each rank's own. With one micro-batch per rank, R ranks then compute what one process does with the
    /// whole batch. Checkpoints are the same either way.
    /// </summary>
    public bool SyncBatchNorm { get; init; }
    /// <summary>
    /// The number format of the forward pass (issue 28). Float32 (default): float32 throughout. BFloat16: mixed
    /// precision (Micikevicius et al. 2018) — float32 master weights, optimiser and checkpoints; each micro-batch's
    /// forward pass and loss under libtorch's autocast (products and convolutions in bfloat16, losses and the ops of
    /// autocast's float32 list in float32), the loss taken in float32 and backpropagated to float32 gradients.
    /// Float16 is for GPUs (refused on CPUs without float16 instructions).
    /// </summary>
    [JsonConverter(typeof(JsonStringEnumConverter<Precision>))]
    public Precision Precision { get; init; }

    /// <summary>Draws loss.png at each checkpoint (the Tessera.Plotting package's <c>LossCurvePlotter</c>); null: only curve.csv.</summary>
    [JsonIgnore]
    public ILossCurvePlotter? CurvePlotter { get; init; }

    /// <summary>Examples per micro-batch.</summary>
    [JsonIgnore]
    public int MicroBatch => Batch / Math.Max(1, Accumulate);

    /// <summary>Checks the settings.</summary>
    /// <exception cref="TesseraUserException">A setting out of range, naming the property (<see cref="TesseraUserException.Parameter"/>).</exception>
    public void Validate()
    {
        static void Require(bool ok, string parameter, string detail)
        {
            if (!ok) throw new TesseraUserException(parameter, detail);
        }
        Require(Steps >= 1, nameof(Steps), $"must be at least 1 (got {Steps})");
        Require(Batch >= 1, nameof(Batch), $"must be at least 1 (got {Batch})");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"must be positive (got {LearningRate})");
        Require(WeightDecay >= 0, nameof(WeightDecay), $"must not be negative (got {WeightDecay})");
        Require(GradClip >= 0, nameof(GradClip), $"must not be negative (got {GradClip})");
        Require(WarmupSteps >= 0, nameof(WarmupSteps), $"must not be negative (got {WarmupSteps})");
        Require(EvalEvery >= 0, nameof(EvalEvery), $"must not be negative (got {EvalEvery})");
        Require(CheckpointEvery >= 1, nameof(CheckpointEvery), $"must be at least 1 (got {CheckpointEvery})");
        Require(SampleEvery >= 0, nameof(SampleEvery), $"must not be negative (got {SampleEvery})");
        Require(StopAt >= 0, nameof(StopAt), $"must not be negative (got {StopAt})");
        Require(Accumulate >= 1, nameof(Accumulate), $"must be at least 1 (got {Accumulate})");
        Require(Batch % Accumulate == 0, nameof(Batch), $"{Batch} must be a multiple of the micro-batches per step (Accumulate, {Accumulate})");
    }

    /// <summary>
    /// The learning rate of step <paramref name="step"/> (0-based): peak · min(1, (t + 1)/W) · decay(t), with
    /// decay 1 (constant), ½(1 + cos(π·t/T)) (cosine) or (1 − t/T)^0.9 (poly), T = <see cref="Steps"/>.
    /// </summary>
    public double LearningRateAt(long step)
    {
        double warm = Math.Min(1, (step + 1) / (double)Math.Max(1, WarmupSteps));
        double decay = Schedule switch
        {
            LearningRateSchedule.Cosine => 0.5 * (1 + Math.Cos(Math.PI * step / Steps)),
            LearningRateSchedule.Poly => Math.Pow(1 - (double)step / Steps, 0.9),
            _ => 1,
        };
        return LearningRate * warm * decay;
    }
}
