namespace Tessera.Training;

/// <summary>
/// What a training run reports after each optimizer step (<see cref="TrainingEngine.Run"/> and the trainers'
/// <c>Train</c>), synchronously on the training thread.
/// </summary>
/// <param name="Step">Steps done so far in the run (counting those before a resume).</param>
/// <param name="Loss">The step's training loss, averaged over its micro-batches (and processes).</param>
/// <param name="Status">
/// The line the step produced, if any: the evaluation's summary on an evaluation step, or where a preview was written;
/// otherwise null.
/// </param>
public sealed record TrainingProgress(long Step, double Loss, string? Status);
