namespace Tessera.Cli.Infrastructure;

/// <summary>
/// Options every training verb shares (the engine's <see cref="TrainingOptions"/>). An option left out takes the
/// verb's default from <see cref="Defaults"/>, so each verb keeps its own.
/// </summary>
public abstract class TrainingSettings : DataSettings
{
    /// <summary>The verb's engine defaults.</summary>
    protected abstract TrainingOptions Defaults { get; }

    /// <summary>The verb's default run folder.</summary>
    protected abstract string DefaultOut { get; }

    // The run: its folder, length, batch, stop and resume, evaluation and checkpoints.
    [CommandOption("-o|--output|--out <DIR>"), Description("Run folder (checkpoint.safetensors, curve.csv, loss.png, …). Default runs/VERB")] public string? OutOption { get; init; }
    [CommandOption("--steps <N>"), Description("Optimiser steps. Default: diffusion 20000, seg 1000, sam 2000")] public int? StepsOption { get; init; }
    [CommandOption("--batch <N>"), Description("Examples per optimiser step. Default: diffusion 64, seg and sam 16")] public int? BatchOption { get; init; }
    [CommandOption("--accumulate <N>"), Description("Micro-batches per optimiser step (gradient accumulation; --batch must be a multiple). Default 1")] public int? AccumulateOption { get; init; }
    [CommandOption("--sync-bn"), Description("Synchronised BatchNorm on several ranks (mpirun): batch statistics over all ranks' micro-batches, as mmsegmentation trains (seg models' ResNet backbones and heads; models without BatchNorm are unchanged)")] public bool SyncBatchNorm { get; init; }
    [CommandOption("--stop-at <STEP>"), Description("Stop before this step with a checkpoint and no evaluation, as an interrupted run would (continue with --resume)")] public int StopAt { get; init; }
    [CommandOption("--resume"), Description("Continue the run in --out from its checkpoint")] public bool Resume { get; init; }
    [CommandOption("--eval-every <N>"), Description("Evaluate every N steps and at the end. Default 500")] public int? EvalEveryOption { get; init; }
    [CommandOption("--checkpoint-every <N>"), Description("Checkpoint every N steps and at the end. Default: diffusion 1000, seg the evaluation interval, sam 250 (at most the evaluation interval)")] public int? CheckpointEveryOption { get; init; }
    // The optimiser and its learning-rate schedule.
    [CommandOption("--optimizer <NAME>"), Description("adam, adamw or sgd (momentum 0.9). Default: diffusion adam, seg and sam adamw")] public string? OptimizerOption { get; init; }
    [CommandOption("--lr <LR>"), Description("Peak learning rate. Default: diffusion 0.0002, seg 0.002, sam 0.0008")] public double? LearningRateOption { get; init; }
    [CommandOption("--weight-decay <WD>"), Description("Weight decay (decoupled for adamw). Default: diffusion 0, seg 0.0001, sam 0.1")] public double? WeightDecayOption { get; init; }
    [CommandOption("--clip <NORM>"), Description("Clip the gradients' global L2 norm to this (0: off). Default: diffusion 1, seg 5, sam 1")] public double? ClipOption { get; init; }
    [CommandOption("--warmup <N>"), Description("Linear learning-rate warm-up steps. Default: diffusion 500, seg and sam 100")] public int? WarmupOption { get; init; }
    [CommandOption("--precision <P>"), Description("fp32 (default) or bf16: mixed precision, the forward pass under libtorch's autocast with float32 master weights, optimiser and checkpoints (fast on CPUs with avx512_bf16/AMX and on GPUs); fp16 on GPUs")] public string? PrecisionOption { get; init; }
    [CommandOption("--schedule <NAME>"), Description("Learning-rate decay after warm-up: constant, cosine or poly (DeepLab, power 0.9). Default: diffusion constant, seg and sam cosine")] public string? ScheduleOption { get; init; }

    /// <summary>The run folder.</summary>
    public string Out => OutOption ?? DefaultOut;

    /// <summary>Says that the run stopped at --stop-at with a checkpoint (a trainer returned no evaluation); exit 0.</summary>
    public int Stopped(Ui ui)
    {
        ui.Result($"stopped before step {StopAt} with a checkpoint in {Path.GetFullPath(Out)}; continue with --resume");
        return Program.Ok;
    }

    /// <summary>Steps after defaults.</summary>
    public int Steps => StepsOption ?? Defaults.Steps;

    /// <summary>The engine settings: the verb's defaults with the options given.</summary>
    public TrainingOptions Training()
    {
        var d = Defaults;
        return d with
        {
            Steps = Steps,
            Batch = BatchOption ?? d.Batch,
            LearningRate = LearningRateOption ?? d.LearningRate,
            Optimizer = OptimizerOption is null ? d.Optimizer : EnumNames.Parse<OptimizerKind>(nameof(TrainingOptions.Optimizer), OptimizerOption, "supported optimizer"),
            WeightDecay = WeightDecayOption ?? d.WeightDecay,
            GradClip = ClipOption ?? d.GradClip,
            WarmupSteps = WarmupOption ?? d.WarmupSteps,
            Schedule = ScheduleOption is null ? d.Schedule : EnumNames.Parse<LearningRateSchedule>(nameof(TrainingOptions.Schedule), ScheduleOption, "learning-rate schedule"),
            EvalEvery = EvalEveryOption ?? d.EvalEvery,
            CheckpointEvery = CheckpointEveryOption ?? d.CheckpointEvery,
            Accumulate = AccumulateOption ?? d.Accumulate,
            SyncBatchNorm = SyncBatchNorm,
            Precision = PrecisionOption is null ? d.Precision : EnumNames.Parse<Tessera.Runtime.Precision>(nameof(TrainingOptions.Precision), PrecisionOption, "precision"),
            StopAt = StopAt,
            Seed = Seed,
            CurvePlotter = new Tessera.Plotting.LossCurvePlotter(),
        };
    }

    public override ValidationResult Validate()
    {
        if (Resume && !File.Exists(Path.Combine(Out, TrainingEngine.CheckpointFile)))
            return ValidationResult.Error($"--resume: {Path.Combine(Out, TrainingEngine.CheckpointFile)} does not exist");
        // The engine names its properties; ParameterFlags gives the user the flags.
        try { Training().Validate(); }
        catch (TesseraUserException e) { return ValidationResult.Error(ParameterFlags.Message(e, GetType())); }
        return base.Validate();
    }
}
