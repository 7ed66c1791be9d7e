using Tessera.Diffusion.Models;
using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Sampling;

/// <summary>
/// The one sampling call of a trained <see cref="DiffusionModel"/>, with one seed per sample: <c>diffusion sample</c>,
/// its <c>--seeds</c> mode (<see cref="SeedSampling"/>), the trainer's preview grids, sample-quality evaluation and the
/// server's sample grid with its per-step previews all come through here.
/// </summary>
public static class DiffusionSampling
{
    /// <summary>
    /// One sample per seed, in [0, 1] on the CPU, shaped [seeds, C, H, W]. Sample i depends only on seeds[i] (its noise,
    /// <see cref="PerSampleNoise"/>, and its label, <see cref="DiffusionSamplingOptions.LabelOf"/>): not on the other seeds, and on
    /// the batch size and thread count only through the CPU kernels' float rounding (bit for bit when both are the same). <paramref name="progress"/> hears every step of every batch and the end of each batch
    /// (<see cref="DiffusionSamplingStep"/>); <paramref name="cancellation"/> stops at the next step.
    /// </summary>
    /// <exception cref="TesseraUserException">The options do not fit the model or the device (<see cref="DiffusionSamplingOptions.Check(DiffusionModel, torch.Device)"/>).</exception>
    public static torch.Tensor Sample(DiffusionModel model, IReadOnlyList<long> seeds, DiffusionSamplingOptions options, torch.Device device,
        IProgress<DiffusionSamplingStep>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(seeds);
        options.Check(model, device);
        var parts = new List<torch.Tensor>();
        try
        {
            for (int first = 0; first < seeds.Count; first += options.Batch)
            {
                int n = Math.Min(options.Batch, seeds.Count - first);
                using var scope = torch.NewDisposeScope();
                var (x, _) = SampleBatch(model, [.. Enumerable.Range(first, n).Select(i => seeds[i])], options, device, progress, cancellation, first, seeds.Count);
                parts.Add(ToImages(x).MoveToOuterDisposeScope());
            }
            return torch.cat(parts);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// One batch: x = σ₀·ε from the seeds' own noise, then the sampler down the options' grid (<see cref="DiffusionSamplingOptions.Grid"/>)
    /// with the labels of <see cref="Labels"/>. Returns the samples in the model's coordinates (data in [−1, 1], not clamped) on
    /// <paramref name="device"/> and the network evaluations per sample. The options must have been checked.
    /// </summary>
    internal static (torch.Tensor Samples, int Evaluations) SampleBatch(DiffusionModel model, IReadOnlyList<long> seeds, DiffusionSamplingOptions options, torch.Device device,
        IProgress<DiffusionSamplingStep>? progress, CancellationToken cancellation, int first = 0, int total = -1)
    {
        cancellation.ThrowIfCancellationRequested();
        var c = model.Config;
        var sigmas = options.Grid(model);
        int n = seeds.Count, steps = sigmas.Count - 1;
        if (total < 0) total = n;
        model.eval();
        model.UsePrecision(options.Precision);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var labels = Labels(model, seeds, options, device);
        var counting = new CountingDenoiser(model.AsDenoiser(labels, options.Guidance));
        var noise = new PerSampleNoise(seeds, device);
        var x = noise.Next(torch.empty(n, c.Channels, c.ImageSize, c.ImageSize, device: device)) * sigmas[0];
        var result = SamplerRegistry.Sample(options.Sampler, counting.AsDenoiser(), x, sigmas, noise, null, step =>
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new DiffusionSamplingStep(total, first, n, step.Step, steps, step.Sigma, step.X, step.Denoised));
        });
        progress?.Report(new DiffusionSamplingStep(total, first, n, steps, steps, 0, result, result));
        return (result.MoveToOuterDisposeScope(), counting.Evaluations);
    }

    /// <summary>The labels [seeds] of a conditional model by <see cref="DiffusionSamplingOptions.LabelOf"/> on <paramref name="device"/>, or null for an unconditional one.</summary>
    public static torch.Tensor? Labels(DiffusionModel model, IReadOnlyList<long> seeds, DiffusionSamplingOptions options, torch.Device device)
    {
        int classes = model.Config.Classes;
        return classes == 0 ? null : torch.tensor(seeds.Select(s => (long)options.LabelOf(s, classes)!.Value).ToArray(), device: device);
    }

    /// <summary>Samples in the model's coordinates ([−1, 1]) as images in [0, 1] on the CPU.</summary>
    public static torch.Tensor ToImages(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return x.add(1).div(2).clamp(0, 1).cpu().MoveToOuterDisposeScope();
    }

    /// <summary>Columns of the sample grid of <paramref name="count"/> samples: ⌈√count⌉ (the command's grid PNG and the server's).</summary>
    public static int GridColumns(int count) => (int)Math.Ceiling(Math.Sqrt(count));

    /// <summary>The seeds <paramref name="first"/>, first + 1, … of <paramref name="count"/> samples.</summary>
    public static long[] ConsecutiveSeeds(long first, int count) => [.. Enumerable.Range(0, count).Select(i => first + i)];
}
