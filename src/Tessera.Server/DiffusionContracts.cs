namespace Tessera.Server;

/// <summary>A request of <c>POST /api/diffusion/sample</c>.</summary>
/// <param name="Sampler">Any sampler of the framework (default heun); <c>GET /api/models</c> lists them.</param>
/// <param name="Steps">Noise levels of the Karras grid (default 18).</param>
/// <param name="Seed">Seed of the first sample; sample i uses seed + i (default 0), as <c>tessera diffusion sample</c>.</param>
/// <param name="Seeds">Explicit per-sample seeds (instead of <c>seed</c> and <c>count</c>).</param>
/// <param name="Count">Samples (default 16).</param>
/// <param name="Class">Class label of every sample (conditional models); default: the sample of seed s gets class s mod the classes, as <c>tessera diffusion sample</c>.</param>
/// <param name="Guidance">Classifier-free guidance scale (default 1: none).</param>
public sealed record DiffusionSampleRequest(string? Sampler = null, int? Steps = null, long? Seed = null, long[]? Seeds = null, int? Count = null, int? Class = null, double? Guidance = null);

/// <summary>Answer of <c>POST /api/diffusion/sample</c> (also the final <c>result</c> event of the stream).</summary>
/// <param name="GridPng">The samples as a grid, PNG base64.</param>
/// <param name="Count">Samples.</param>
/// <param name="Columns">Grid columns.</param>
/// <param name="Ms">Time taken.</param>
public sealed record DiffusionSampleResponse(string GridPng, int Count, int Columns, double Ms);

/// <summary>A <c>step</c> event of the progress stream.</summary>
/// <param name="Step">Step index (from 0).</param>
/// <param name="Steps">Steps of the grid.</param>
/// <param name="Sigma">Noise level σ of the step.</param>
/// <param name="PreviewPng">The denoised estimate x̂₀ of every sample, as a grid PNG base64.</param>
public sealed record DiffusionStepEvent(int Step, int Steps, double Sigma, string PreviewPng);
