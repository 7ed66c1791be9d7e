namespace Tessera.Diffusion.Grids;

/// <summary>
/// An explicit σ-grid for a trained model (e.g. the file of <c>diffusion schedule</c>): at least one step, never
/// increasing, its first σ at most the model's σ_max and its smallest non-zero σ at least the model's σ_min (the noise
/// levels the model was made for; a grid may end in 0).
/// </summary>
public static class ModelGrid
{
    /// <summary>Slack on the range check for rounding in a grid written as text.</summary>
    private const double Slack = 1e-9;

    /// <summary>Why <paramref name="sigmas"/> cannot drive a model with noise levels <paramref name="range"/>, or null when it can.</summary>
    public static string? Problem(IReadOnlyList<double> sigmas, (double Min, double Max) range)
    {
        try { SigmaGrids.Check(sigmas); }
        catch (TesseraUserException e) { return e.Detail; }
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        if (sigmas[0] > range.Max * (1 + Slack)) return $"σ[0] = {F(sigmas[0])} is above the model's σ_max = {F(range.Max)}";
        double smallest = sigmas.Where(s => s > 0).DefaultIfEmpty(0).Min();
        if (smallest == 0) return "no non-zero σ";
        if (smallest < range.Min * (1 - Slack)) return $"the smallest non-zero σ = {F(smallest)} is below the model's σ_min = {F(range.Min)}";
        return null;
    }

    /// <summary>Checks a grid given to the library.</summary>
    /// <exception cref="TesseraUserException">Not a grid for this range (named <paramref name="parameter"/>).</exception>
    public static void Check(IReadOnlyList<double> sigmas, (double Min, double Max) range, string parameter)
    {
        if (Problem(sigmas, range) is { } why) throw new TesseraUserException(parameter, why);
    }

    /// <summary>Reads a grid file (<see cref="SigmaGridFile"/>) and checks it against the model's noise levels.</summary>
    /// <exception cref="TesseraFormatException">Unreadable, or not a grid for this range (naming the file and its 'sigmas' field).</exception>
    public static double[] Read(string path, (double Min, double Max) range)
    {
        double[] sigmas = SigmaGridFile.Read(path);
        if (Problem(sigmas, range) is { } why) throw new TesseraFormatException(path, $"'sigmas': {why}");
        return sigmas;
    }
}
