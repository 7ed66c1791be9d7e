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

/// <summary>
/// The built-in problems: the 2-D ring of the fixtures, a 64-D 16-mode mixture, a 16-D 32-mode one, and a 32-D
/// multi-scale mixture (<see cref="MultiScale"/>) whose modes differ in width by 75×, in weight by 100× and in
/// distance from the origin by 8×.
/// </summary>
public static class BuiltInProblems
{
    /// <summary>Names accepted by <see cref="Get"/>.</summary>
    public static readonly string[] Names = ["ring", "mixture64", "mixture16", "multiscale32"];

    /// <summary>
    /// The problems <see cref="AnalyticSetup.Bench"/> runs unless told otherwise: issue #19's two built-in mixtures, the
    /// 2-D ring and the 64-D, 16-mode mixture (the built-in problems when the issue was filed).
    /// </summary>
    public static readonly string[] BenchDefault = ["ring", "mixture64"];

    /// <summary>The problem called <paramref name="name"/>.</summary>
    /// <exception cref="TesseraUserException">Unknown name.</exception>
    public static BuiltInProblem Get(string name) => name switch
    {
        "ring" => new("ring", "2-D ring", GaussianMixture.Ring(), 1, 4096),
        "mixture64" => new("mixture64", "64-D mixture", AnalyticProblem.RandomMixture(64, 16, 7), 2, 4096),
        "mixture16" => new("mixture16", "16-D mixture", AnalyticProblem.RandomMixture(16, 32, 13), 3, 4096),
        "multiscale32" => new("multiscale32", "32-D multi-scale mixture", MultiScale(32, 12, 17), 4, 4096),
        _ => throw new TesseraUserException(nameof(name), $"unknown problem '{name}'; expected one of {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// A mixture that stresses a σ-grid at both ends (fixed by <paramref name="seed"/>): K modes whose stds are
    /// log-uniform from 0.02 to 1.5 (the narrow ones need small steps near σ → 0, where the denoiser of a mode of
    /// width s turns over at σ ≈ s), whose means lie at distances log-uniform from 2.5 to 20 from the origin (the far
    /// ones separate from the rest at σ ≈ 10–20, so large σ matter too), and whose weights fall geometrically by
    /// 100× from the first mode to the last (a rare mode is easily pulled into a frequent one by a coarse step).
    /// The narrowest mode is the rarest, the widest the most frequent.
    /// </summary>
    public static GaussianMixture MultiScale(int dim, int modes, long seed)
    {
        if (modes < 2) throw new TesseraUserException(nameof(modes), $"need at least 2 modes, got {modes}");
        var g = new torch.Generator((ulong)seed);
        using var directions = torch.randn([modes, dim], torch.ScalarType.Float64, generator: g);
        using var unit = directions / directions.norm(1, keepdim: true);
        using var order = torch.randperm(modes, generator: g);
        long[] perm = order.data<long>().ToArray();
        var means = new double[modes][];
        var stds = new double[modes];
        var raw = new double[modes];
        for (int k = 0; k < modes; k++)
        {
            double u = (double)k / (modes - 1);
            stds[k] = 1.5 * Math.Pow(0.02 / 1.5, u);
            raw[k] = Math.Pow(0.01, u);
            // Distances are shuffled against width and weight so that far modes are not all wide or all narrow.
            double distance = 2.5 * Math.Pow(8, (double)perm[k] / (modes - 1));
            means[k] = (unit[k] * distance).data<double>().ToArray();
        }
        double total = raw.Sum();
        double[] weights = raw.Select(w => w / total).ToArray();
        weights[^1] = 1 - weights[..^1].Sum();
        return new GaussianMixture(dim, weights, stds, means);
    }
}
