namespace Tessera.Diffusion.Sampling;

/// <summary>
/// What <see cref="DiffusionSampling.Sample"/> reports through its <see cref="IProgress{T}"/>: each step of each batch
/// (the sampler's own callback, k-diffusion's), and once more when a batch is finished. It is reported on the sampling
/// thread while the step runs and its tensors live only during the call: use a synchronous <see cref="IProgress{T}"/>
/// (not <see cref="Progress{T}"/>, which reports later on another thread) and copy what you keep (<see cref="Preview"/>).
/// </summary>
/// <param name="Samples">Samples of the whole call.</param>
/// <param name="First">Index of the batch's first sample.</param>
/// <param name="Count">Samples in the batch.</param>
/// <param name="Step">Step index i of the σ-grid (0 … <paramref name="Steps"/> − 1), or <paramref name="Steps"/> when the batch is finished.</param>
/// <param name="Steps">Steps of the σ-grid.</param>
/// <param name="Sigma">σᵢ (0 when the batch is finished).</param>
/// <param name="X">The batch's state at σᵢ, in the model's coordinates (data in [−1, 1]); the samples when finished.</param>
/// <param name="Denoised">D(x; σᵢ), the estimate of the clean batch; the samples when finished.</param>
public sealed record DiffusionSamplingStep(int Samples, int First, int Count, int Step, int Steps, double Sigma, torch.Tensor X, torch.Tensor Denoised)
{
    /// <summary>True on the report after a batch's last step.</summary>
    public bool BatchDone => Step == Steps;

    /// <summary>Samples finished so far (those of earlier batches, and this batch's once it is done).</summary>
    public int SamplesDone => BatchDone ? First + Count : First;

    /// <summary>The denoised estimate as images in [0, 1] on the CPU [Count, C, H, W] (a new tensor the caller disposes).</summary>
    public torch.Tensor Preview() => DiffusionSampling.ToImages(Denoised);
}
