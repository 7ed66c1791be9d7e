namespace Tessera.Diffusion.Evaluation;

/// <summary>Where a <see cref="FashionClassifier.Train"/> run stands.</summary>
/// <param name="Batch">Batches done.</param>
/// <param name="Batches">Batches of the whole run (epochs × batches per epoch).</param>
/// <param name="Loss">Cross-entropy of the last batch.</param>
public sealed record ClassifierTrainingProgress(long Batch, long Batches, double Loss);
