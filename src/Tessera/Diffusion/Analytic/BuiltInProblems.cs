using TorchSharp;

namespace Tessera.Diffusion.Analytic;

/// <summary>The named test problems of the analytic bed: a mixture and how its noise is drawn.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Label">Table label.</param>
/// <param name="Mixture">The data distribution.</param>
/// <param name="NoiseSeed">Seed of the evaluation noise (a schedule optimiser uses other seeds).</param>
/// <param name="Samples">Rows of the evaluation noise.</param>
public sealed record BuiltInProblem(string Name, string Label, GaussianMixture Mixture, ulong NoiseSeed, int Samples)
{
    /// <summary>Standard-normal noise [samples, d] from <paramref name="seed"/> (default: the problem's own).</summary>
    public torch.Tensor Noise(int? samples = null, ulong? seed = null) =>
        torch.randn([samples ?? Samples, Mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator(seed ?? NoiseSeed));
}

/// <summary>The built-in problems: the 2-D ring of the fixtures, a 64-D 16-mode mixture, and a 16-D 32-mode one.</summary>
public static class BuiltInProblems
{
    /// <summary>Names accepted by <see cref="Get"/>.</summary>
    public static readonly string[] Names = ["ring", "mixture64", "mixture16"];

    /// <summary>The problem called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static BuiltInProblem Get(string name) => name switch
    {
        "ring" => new("ring", "2-D ring", GaussianMixture.Ring(), 1, 4096),
        "mixture64" => new("mixture64", "64-D mixture", AnalyticProblem.RandomMixture(64, 16, 7), 2, 4096),
        "mixture16" => new("mixture16", "16-D mixture", AnalyticProblem.RandomMixture(16, 32, 13), 3, 4096),
        _ => throw new ArgumentException($"unknown problem '{name}'; expected one of {string.Join(", ", Names)}"),
    };
}
