using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Samplers;
using Tessera.Runtime;

namespace Tessera.Diffusion.Sampling;

/// <summary>How <see cref="DiffusionSampling.Sample"/> samples.</summary>
public sealed record DiffusionSamplingOptions
{
    /// <summary>Any sampler of the framework (<see cref="SamplerRegistry.Names"/>). Default heun.</summary>
    public string Sampler { get; init; } = "heun";

    /// <summary>Noise levels of the Karras grid (Heun uses 2N − 1 evaluations). Default 18. Not used with <see cref="Sigmas"/>.</summary>
    public int Steps { get; init; } = 18;

    /// <summary>
    /// An explicit σ-grid σ₀ &gt; … ≥ 0 (e.g. read with <see cref="ModelGrid.Read"/>) instead of the Karras grid of
    /// <see cref="Steps"/> steps; within the model's σ range. Null: the Karras grid.
    /// </summary>
    public IReadOnlyList<double>? Sigmas { get; init; }

    /// <summary>Samples per batch. Every sample has its own noise, so the results depend on it only through the kernels' float rounding (bit for bit at the same batch size and thread count). Default 64.</summary>
    public int Batch { get; init; } = 64;

    /// <summary>
    /// Class labels of conditional models: the sample of seed s gets Classes[s mod count]; null: s mod the model's
    /// classes (<see cref="LabelOf"/>).
    /// </summary>
    public IReadOnlyList<int>? Classes { get; init; }

    /// <summary>Classifier-free guidance scale (1: none). Default 1.</summary>
    public double Guidance { get; init; } = 1;

    /// <summary>
    /// The number format of the network (issue 28; <see cref="DiffusionModel.Precision"/>): sampling converts the model's
    /// network to it in place (<see cref="DiffusionModel.UsePrecision"/>); the sampler's state, σ arithmetic and the
    /// preconditioning stay float32. Default float32.
    /// </summary>
    public Precision Precision { get; init; }

    /// <summary>
    /// The class label of the sample of <paramref name="seed"/> — the one rule of every sampling path (a function of the
    /// seed alone, as EDM's generate.py draws it from the seed): Classes[seed mod count], or seed mod
    /// <paramref name="modelClasses"/>; null for unconditional models.
    /// </summary>
    public int? LabelOf(long seed, int modelClasses) =>
        modelClasses == 0 ? null : Classes is { Count: > 0 } c ? c[(int)(seed % c.Count)] : (int)(seed % modelClasses);

    /// <summary>The σ-grid these options sample <paramref name="model"/> down: <see cref="Sigmas"/>, or the Karras grid of <see cref="Steps"/> steps on the model's σ range.</summary>
    public IReadOnlyList<double> Grid(DiffusionModel model)
    {
        var (sMin, sMax) = model.Config.SigmaRange;
        return Sigmas ?? SigmaGrids.Karras(Steps, sMin, sMax);
    }

    /// <summary>Checks the options against <paramref name="model"/>.</summary>
    /// <exception cref="TesseraUserException">Classes for an unconditional model, or labels outside the model's classes (parameter <c>Classes</c>); an unknown sampler (<c>Sampler</c>); steps or batch below 1; a σ-grid outside the model's range (<c>Sigmas</c>).</exception>
    public void Check(DiffusionModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        int classCount = model.Config.Classes;
        if (Classes is not null && classCount == 0) throw new TesseraUserException(nameof(Classes), "this model is unconditional");
        if (Classes is not null && (Classes.Count == 0 || Classes.Any(c => c < 0 || c >= classCount)))
            throw new TesseraUserException(nameof(Classes), $"labels must be in 0 … {classCount - 1}");
        SamplerRegistry.Check(Sampler, nameof(Sampler));
        if (Sigmas is null && Steps < 1) throw new TesseraUserException(nameof(Steps), $"{Steps}; expected at least 1");
        if (Sigmas is not null) ModelGrid.Check(Sigmas, model.Config.SigmaRange, nameof(Sigmas));
        if (Batch < 1) throw new TesseraUserException(nameof(Batch), $"{Batch}; expected at least 1");
        if (Precision != model.Precision && model.Precision != Precision.Float32)
            throw new TesseraUserException(nameof(Precision), $"{EnumNames.Name(Precision)}: the model runs at {EnumNames.Name(model.Precision)} already (its weights are rounded); load it again for another precision");
    }

    /// <summary>Checks the options against <paramref name="model"/> and <paramref name="device"/> (float16 needs a GPU or a CPU with float16 instructions).</summary>
    /// <exception cref="TesseraUserException">As <see cref="Check(DiffusionModel)"/>, or float16 on such a CPU (parameter <c>Precision</c>).</exception>
    public void Check(DiffusionModel model, torch.Device device)
    {
        Check(model);
        PrecisionInfo.Require(Precision, device, nameof(Precision));
    }
}
