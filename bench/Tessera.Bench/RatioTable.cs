namespace Tessera.Bench;

/// <summary>
/// The "Tessera vs PyTorch" table of the speed benchmarks: per key of our measurements, our value, the baseline's
/// (<see cref="PythonBaseline.Run"/>) and their ratio; parameter counts (keys <c>params</c>, <c>*_params</c>,
/// <c>*-params</c>) side by side with a note instead of a ratio; a key the baseline did not report with why.
/// </summary>
internal static class RatioTable
{
    /// <summary>The note beside parameter counts of architectures built alike.</summary>
    public const string SameCount = "(the same architecture has the same count)";

    /// <summary>The note where the baseline did not run.</summary>
    public const string NotRun = "(PyTorch not run: /usr/bin/python3 with torch not found; apt-get install python3-torch)";

    /// <summary>The ratio column for rates (higher is better): Tessera over PyTorch.</summary>
    public static string RateRatio(string key, double ours, double theirs) => $"Tessera/PyTorch {ours / theirs:0.00}";

    /// <summary>
    /// Prints one row per key of <paramref name="ours"/>. Values are right-aligned in <paramref name="valueWidth"/>
    /// columns with <paramref name="format"/>; <paramref name="ratio"/> writes the comparison (default <see cref="RateRatio"/>).
    /// </summary>
    public static void Print(IReadOnlyDictionary<string, double> ours, IReadOnlyDictionary<string, double> theirs, int keyWidth = 16, int valueWidth = 12,
        string format = "0.000", Func<string, double, double, string>? ratio = null, string countNote = SameCount, string notRun = NotRun)
    {
        ratio ??= RateRatio;
        string Cell(double v, string f) => v.ToString(f, CultureInfo.InvariantCulture).PadLeft(valueWidth);
        foreach (var (k, v) in ours)
        {
            string key = k.PadRight(keyWidth);
            bool count = k == "params" || k.EndsWith("_params", StringComparison.Ordinal) || k.EndsWith("-params", StringComparison.Ordinal);
            Console.WriteLine(count
                ? $"{key} Tessera {Cell(v, "0")}   PyTorch {Cell(theirs.GetValueOrDefault(k), "0")}   {countNote}"
                : theirs.TryGetValue(k, out double t)
                ? $"{key} Tessera {Cell(v, format)}   PyTorch {Cell(t, format)}   {ratio(k, v, t)}"
                : $"{key} Tessera {Cell(v, format)}   {notRun}");
        }
    }
}
