namespace Tessera.Training;

/// <summary>One micro-batch of an optimiser step.</summary>
/// <param name="Step">The optimiser step (0-based).</param>
/// <param name="Micro">The micro-batch within the step (0-based).</param>
/// <param name="Micros">Micro-batches per step.</param>
/// <param name="First">Index of the first example in the run's stream of examples (Step·Batch + Micro·Count).</param>
/// <param name="Count">Examples in this micro-batch.</param>
public readonly record struct MicroBatch(long Step, int Micro, int Micros, long First, int Count);

/// <summary>An evaluation's value for the curve and a line for the progress report.</summary>
/// <param name="Value">The metric drawn in the evaluation curve.</param>
/// <param name="Status">A short line for the progress display.</param>
public readonly record struct EvalPoint(double Value, string Status);

/// <summary>
/// What a model family adds to <see cref="TrainingEngine"/>: its model, the loss of a micro-batch from an explicit
/// generator, evaluation, previews and checkpoint extras. Everything generic (optimiser, schedule, clipping,
/// accumulation, checkpoints, resume, stop, cancellation, the loss curve) is the engine's.
/// </summary>
public interface ITrainingTask : IDisposable
{
    /// <summary>The model kind written to checkpoints.</summary>
    ModelKind Kind { get; }

    /// <summary>The model configuration as JSON (recorded, and compared on resume).</summary>
    string ModelConfigJson { get; }

    /// <summary>The family's own options as JSON (recorded in checkpoints).</summary>
    string TaskOptionsJson { get; }

    /// <summary>Name of the evaluation metric in the curve.</summary>
    string EvalName => "eval";

    /// <summary>Title of the loss plot.</summary>
    string PlotTitle { get; }

    /// <summary>
    /// Builds the model on <paramref name="device"/>; the engine calls it once, with libtorch's global generator
    /// seeded for initialisation (<see cref="StepRandom.Seeded{T}"/>). <paramref name="resume"/>: weights will be
    /// loaded from the checkpoint (so pretrained initialisation can be skipped).
    /// </summary>
    torch.nn.Module Build(torch.Device device, bool resume);

    /// <summary>The parameters to optimise (after <see cref="Build"/>).</summary>
    IEnumerable<TorchSharp.Modules.Parameter> Parameters();

    /// <summary>A module saved beside the model in checkpoints under <c>ema.</c> (e.g. an EMA copy), or null.</summary>
    torch.nn.Module? Extra => null;

    /// <summary>Canonical form of a recorded model configuration (fields added since count at their defaults).</summary>
    /// <exception cref="TesseraFormatException">The JSON is not a configuration of this kind.</exception>
    string CanonicalConfig(string json, string path) => json;

    /// <summary>Loads data and positions the data stream at <paramref name="startStep"/>.</summary>
    void Prepare(long startStep, CancellationToken cancellation);

    /// <summary>
    /// The mean loss of one micro-batch; all randomness from <paramref name="generator"/> (modules that draw from the
    /// global generator run inside a scope the engine seeds the same way).
    /// </summary>
    torch.Tensor Loss(MicroBatch batch, torch.Generator generator);

    /// <summary>Called after each optimiser step with the number of steps done (e.g. an EMA update).</summary>
    void AfterStep(long stepsDone)
    {
    }

    /// <summary>Evaluates the model (null: the task has no evaluation).</summary>
    EvalPoint? Evaluate() => null;

    /// <summary>Writes a preview (e.g. a sample grid) for <paramref name="step"/> into <paramref name="runDir"/>; returns a status line, or null if the task has none.</summary>
    string? Preview(string runDir, long step) => null;

    /// <summary>Called after each checkpoint (e.g. to export the bare model beside it).</summary>
    void AfterCheckpoint(string runDir, long step)
    {
    }
}
