using System.Diagnostics;
using Tessera.Diffusion;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Sampling;
using Tessera.IO;
using Tessera.Runtime;
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
        _model = DiffusionModel.Load(checkpoint, device);
        _model.eval();
        _device = device;
        _maxSamples = maxSamples;
        Parameters = _model.parameters().Sum(p => p.NumberOfElements);
        Queue = new ModelQueue("diffusion", queueLength);
    }

    /// <summary>Checks a request; 400 naming the field otherwise. The sampler and the labels are checked by the library (<see cref="DiffusionSamplingOptions.Check(Tessera.Diffusion.Models.DiffusionModel)"/>).</summary>
    public (DiffusionSamplingOptions Options, long[] Seeds) Validate(DiffusionSampleRequest r)
    {
        int steps = r.Steps ?? 18;
        if (steps is < 1 or > 1000) throw ApiException.BadRequest($"steps: {steps} must be in 1 … 1000");
        if (r.Seeds is not null && r.Count is not null && r.Count != r.Seeds.Length) throw ApiException.BadRequest($"count {r.Count} disagrees with the {r.Seeds.Length} seeds");
        if (r.Seeds is not null && r.Seed is not null) throw ApiException.BadRequest("give seed or seeds, not both");
        int count = r.Seeds?.Length ?? r.Count ?? 16;
        if (count < 1 || count > _maxSamples) throw ApiException.BadRequest($"count: {count} must be in 1 … {_maxSamples}");
        long[] seeds = r.Seeds ?? DiffusionSampling.ConsecutiveSeeds(r.Seed ?? 0, count);
        double guidance = r.Guidance ?? 1;
        if (!double.IsFinite(guidance) || guidance < 0 || guidance > 100) throw ApiException.BadRequest($"guidance: {guidance} must be in 0 … 100");
        var options = new DiffusionSamplingOptions { Sampler = r.Sampler ?? "heun", Steps = steps, Batch = count, Classes = r.Class is { } c ? [c] : null, Guidance = guidance };
        try { options.Check(_model); }
        catch (TesseraUserException e) when (e.Parameter is not null)
        {
            string field = e.Parameter == nameof(DiffusionSamplingOptions.Classes) ? "class" : e.Parameter.ToLowerInvariant();
            throw ApiException.BadRequest($"{field}: {e.Detail}");
        }
        return (options, seeds);
    }

    /// <summary>
    /// Samples a grid with <see cref="DiffusionSampling.Sample"/>, as <c>tessera diffusion sample</c> does for the same seeds;
    /// <paramref name="onStep"/> gets every step's preview from the library's progress reports (and may be null).
    /// </summary>
    public Task<DiffusionSampleResponse> SampleAsync(DiffusionSampleRequest request, Action<DiffusionStepEvent>? onStep, CancellationToken cancel)
    {
        var (options, seeds) = Validate(request);
        int count = seeds.Length, columns = DiffusionSampling.GridColumns(count);
        return Queue.RunAsync(token =>
        {
            var clock = Stopwatch.StartNew();
            var previews = onStep is null ? null : new InlineProgress<DiffusionSamplingStep>(step =>
            {
                if (step.BatchDone) return;
                using var preview = step.Preview();
                using var grid = ImageIO.MakeGrid(preview, columns);
                onStep(new DiffusionStepEvent(step.Step, step.Steps, step.Sigma, HttpIO.PngBase64(grid)));
            });
            using var images = DiffusionSampling.Sample(_model, seeds, options, _device, previews, token);
            using var grid = ImageIO.MakeGrid(images, columns);
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
