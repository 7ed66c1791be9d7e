using System.Diagnostics;
using Tessera.Diffusion;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Server;

/// <summary>The loaded diffusion model: sample grids with per-step previews, one request at a time.</summary>
public sealed class DiffusionService : IModelService, IDisposable
{
    private readonly DiffusionModel _model;
    private readonly torch.Device _device;
    private readonly int _maxSamples;

    /// <summary>The model's queue.</summary>
    public ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    public string Checkpoint { get; }

    /// <summary>The configuration.</summary>
    public DiffusionModelConfig Config => _model.Config;

    /// <summary>Parameters.</summary>
    public long Parameters { get; }

    /// <summary>Device.</summary>
    public string Device => _device.ToString();

    /// <summary>Loads <paramref name="checkpoint"/> (its EMA weights for a training checkpoint) onto <paramref name="device"/>.</summary>
    public DiffusionService(string checkpoint, torch.Device device, int queueLength, int maxSamples)
    {
        Checkpoint = checkpoint;
        _model = DiffusionModel.Load(checkpoint);
        _model.to(device);
        _model.eval();
        _device = device;
        _maxSamples = maxSamples;
        Parameters = _model.parameters().Sum(p => p.NumberOfElements);
        Queue = new ModelQueue("diffusion", queueLength);
    }

    /// <summary>Grid columns for <paramref name="count"/> samples (as <c>tessera diffusion sample</c>).</summary>
    public static int Columns(int count) => (int)Math.Ceiling(Math.Sqrt(count));

    /// <summary>Checks a request; 400 naming the field otherwise.</summary>
    public (string Sampler, int Steps, long[] Seeds, int? Class, double Guidance) Validate(DiffusionSampleRequest r)
    {
        string sampler = r.Sampler ?? "heun";
        if (!SamplerRegistry.Exists(sampler)) throw ApiException.BadRequest($"sampler: unknown '{sampler}'; expected one of {string.Join(", ", SamplerRegistry.Names)}");
        int steps = r.Steps ?? 18;
        if (steps is < 1 or > 1000) throw ApiException.BadRequest($"steps: {steps} must be in 1 … 1000");
        if (r.Seeds is not null && r.Count is not null && r.Count != r.Seeds.Length) throw ApiException.BadRequest($"count {r.Count} disagrees with the {r.Seeds.Length} seeds");
        if (r.Seeds is not null && r.Seed is not null) throw ApiException.BadRequest("give seed or seeds, not both");
        int count = r.Seeds?.Length ?? r.Count ?? 16;
        if (count < 1 || count > _maxSamples) throw ApiException.BadRequest($"count: {count} must be in 1 … {_maxSamples}");
        long seed = r.Seed ?? 0;
        long[] seeds = r.Seeds ?? [.. Enumerable.Range(0, count).Select(i => seed + i)];
        if (r.Class is { } c)
        {
            if (Config.Classes == 0) throw ApiException.BadRequest("class: this model is unconditional");
            if (c < 0 || c >= Config.Classes) throw ApiException.BadRequest($"class: {c} must be in 0 … {Config.Classes - 1}");
        }
        double guidance = r.Guidance ?? 1;
        if (!double.IsFinite(guidance) || guidance < 0 || guidance > 100) throw ApiException.BadRequest($"guidance: {guidance} must be in 0 … 100");
        return (sampler, steps, seeds, r.Class, guidance);
    }

    /// <summary>Samples a grid; <paramref name="onStep"/> gets every step's preview (and may be null).</summary>
    public Task<DiffusionSampleResponse> SampleAsync(DiffusionSampleRequest request, Action<DiffusionStepEvent>? onStep, CancellationToken cancel)
    {
        var (sampler, steps, seeds, cls, guidance) = Validate(request);
        return Queue.RunAsync(token =>
        {
            var clock = Stopwatch.StartNew();
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var c = Config;
            int count = seeds.Length, columns = Columns(count);
            torch.Tensor? labels = c.Classes == 0 ? null
                : torch.tensor(Enumerable.Range(0, count).Select(i => (long)(cls ?? i % c.Classes)).ToArray(), device: _device);
            // As DiffusionTrainer.Generate: x ~ N(0, σ₀²) from per-sample seeds, then the sampler down the Karras grid.
            var (sMin, sMax) = c.SigmaRange;
            var sigmas = SigmaGrids.Karras(steps, sMin, sMax);
            var noise = new PerSampleNoise(seeds, _device);
            var x = noise.Next(torch.empty(count, c.Channels, c.ImageSize, c.ImageSize, device: _device)) * sigmas[0];
            var result = SamplerRegistry.Sample(sampler, _model.AsDenoiser(labels, guidance), x, sigmas, noise, null, step =>
            {
                token.ThrowIfCancellationRequested();
                if (onStep is null) return;
                using var inner = torch.NewDisposeScope();
                var preview = ImageIO.MakeGrid(step.Denoised.add(1).div(2).clamp(0, 1).cpu(), columns);
                onStep(new DiffusionStepEvent(step.Step, steps, step.Sigma, HttpIO.PngBase64(preview)));
            });
            var grid = ImageIO.MakeGrid(result.add(1).div(2).clamp(0, 1).cpu(), columns);
            return new DiffusionSampleResponse(HttpIO.PngBase64(grid), count, columns, clock.Elapsed.TotalMilliseconds);
        }, cancel);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // A call still running after the shutdown timeout keeps its model: freeing tensors under it would crash the process.
        if (!Queue.Close(TimeSpan.FromSeconds(30))) return;
        Queue.Dispose();
        _model.Dispose();
    }
}
