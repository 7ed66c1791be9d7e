using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;
using TorchSharp;

namespace Tessera.Diffusion;

/// <summary>How <see cref="DiffusionSampling.Sample"/> samples.</summary>
public sealed record DiffusionSamplingOptions
{
    /// <summary>Any sampler of the framework (<see cref="SamplerRegistry.Names"/>). Default heun.</summary>
    public string Sampler { get; init; } = "heun";

    /// <summary>Noise levels of the Karras grid (Heun uses 2N − 1 evaluations). Default 18. Not used with <see cref="Sigmas"/>.</summary>
    public int Steps { get; init; } = 18;

    /// <summary>
    /// An explicit σ-grid σ₀ &gt; … ≥ 0 (e.g. read with <see cref="Sampling.ModelGrid.Read"/>) instead of the Karras grid of
    /// <see cref="Steps"/> steps; within the model's σ range. Null: the Karras grid.
    /// </summary>
    public IReadOnlyList<double>? Sigmas { get; init; }

    /// <summary>Samples per batch. Every sample has its own noise, so the results depend on it only through the kernels' float rounding (bit for bit at the same batch size and thread count). Default 64.</summary>
    public int Batch { get; init; } = 64;

    /// <summary>Class labels cycled over the samples (conditional models); null: all classes in turn.</summary>
    public IReadOnlyList<int>? Classes { get; init; }

    /// <summary>Classifier-free guidance scale (1: none). Default 1.</summary>
    public double Guidance { get; init; } = 1;
}

/// <summary>Batched sampling of a trained <see cref="DiffusionModel"/> with one seed per sample.</summary>
public static class DiffusionSampling
{
    /// <summary>
    /// One sample per seed, in [0, 1] on the CPU, shaped [seeds, C, H, W]. Sample i depends only on seeds[i] and its
    /// label (classes[i mod count] of <see cref="DiffusionSamplingOptions.Classes"/>): not on the other seeds
    /// (<see cref="PerSampleNoise"/>), and on the batch size and thread count only through the CPU kernels' float rounding
    /// (bit for bit when both are the same). <paramref name="progress"/> gets the number of samples done.
    /// </summary>
    /// <exception cref="TesseraUserException">Classes for an unconditional model, or labels outside the model's classes (parameter <c>Classes</c>); an unknown sampler (<c>Sampler</c>); steps or batch below 1; a σ-grid outside the model's range (<c>Sigmas</c>).</exception>
    public static torch.Tensor Sample(DiffusionModel model, IReadOnlyList<long> seeds, DiffusionSamplingOptions options, torch.Device device,
        Action<int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        int classCount = model.Config.Classes;
        var classes = options.Classes;
        if (classes is not null && classCount == 0) throw new TesseraUserException(nameof(options.Classes), "this model is unconditional");
        if (classes is not null && (classes.Count == 0 || classes.Any(c => c < 0 || c >= classCount)))
            throw new TesseraUserException(nameof(options.Classes), $"labels must be in 0 … {classCount - 1}");
        if (!SamplerRegistry.Exists(options.Sampler))
            throw new TesseraUserException(nameof(options.Sampler), $"unknown '{options.Sampler}'; expected one of {string.Join(", ", SamplerRegistry.Names)}");
        if (options.Sigmas is null && options.Steps < 1) throw new TesseraUserException(nameof(options.Steps), $"{options.Steps}; expected at least 1");
        if (options.Sigmas is not null) Sampling.ModelGrid.Check(options.Sigmas, model.Config.SigmaRange, nameof(options.Sigmas));
        if (options.Batch < 1) throw new TesseraUserException(nameof(options.Batch), $"{options.Batch}; expected at least 1");
        var cycle = classes ?? [.. Enumerable.Range(0, classCount)];
        var parts = new List<torch.Tensor>();
        try
        {
            for (int first = 0; first < seeds.Count; first += options.Batch)
            {
                cancellation.ThrowIfCancellationRequested();
                int n = Math.Min(options.Batch, seeds.Count - first);
                using var scope = torch.NewDisposeScope();
                torch.Tensor? labels = classCount > 0
                    ? torch.tensor(Enumerable.Range(first, n).Select(i => (long)cycle[i % cycle.Count]).ToArray(), device: device)
                    : null;
                var noise = new PerSampleNoise([.. Enumerable.Range(first, n).Select(i => seeds[i])], device);
                var x = DiffusionTrainer.Generate(model, options.Sampler, options.Steps, noise, n, labels, options.Guidance, device, sigmas: options.Sigmas);
                parts.Add(x.add(1).div(2).clamp(0, 1).cpu().MoveToOuterDisposeScope());
                progress?.Invoke(first + n);
            }
            return torch.cat(parts);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>The seeds <paramref name="first"/>, first + 1, … of <paramref name="count"/> samples.</summary>
    public static long[] ConsecutiveSeeds(long first, int count) => [.. Enumerable.Range(0, count).Select(i => first + i)];
}
