namespace Tessera.Diffusion.Grids;

/// <summary>Names of the σ-grids the analytic test bed and <c>diffusion schedule</c> build by name.</summary>
public static class GridNames
{
    /// <summary>All grid names.</summary>
    public static readonly string[] All = ["karras", "exponential", "polyexponential", "vp", "uniform-t"];

    /// <summary>Builds grid <paramref name="name"/> with <paramref name="steps"/> steps (steps + 1 values, last 0).</summary>
    /// <exception cref="TesseraUserException">Unknown grid.</exception>
    public static double[] Build(string name, int steps, double sigmaMin, double sigmaMax, double rho) => name switch
    {
        "karras" => SigmaGrids.Karras(steps, sigmaMin, sigmaMax, rho),
        "exponential" => SigmaGrids.Exponential(steps, sigmaMin, sigmaMax),
        "polyexponential" => SigmaGrids.PolyExponential(steps, sigmaMin, sigmaMax, rho),
        "vp" => SigmaGrids.Vp(steps),
        "uniform-t" => SigmaGrids.UniformT(steps, t => t, sigmaMin, sigmaMax),
        _ => throw new TesseraUserException(nameof(name), $"unknown grid '{name}'; expected one of {string.Join(", ", All)}"),
    };
}
