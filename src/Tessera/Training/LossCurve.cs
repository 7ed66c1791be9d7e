namespace Tessera.Training;

/// <summary>Training and evaluation curves of a run, kept as CSV (so a resumed run continues them); an <see cref="ILossCurvePlotter"/> draws them.</summary>
public sealed class LossCurve
{
    private readonly SortedDictionary<long, double> _train = [];
    private readonly SortedDictionary<long, double> _eval = [];

    /// <summary>Name of the evaluation metric.</summary>
    public string EvalName { get; }

    /// <summary>Creates an empty curve.</summary>
    public LossCurve(string evalName = "eval") => EvalName = evalName;

    /// <summary>Records the training loss at a step.</summary>
    public void AddTrain(long step, double loss) => _train[step] = loss;

    /// <summary>Records an evaluation value at a step.</summary>
    public void AddEval(long step, double value) => _eval[step] = value;

    /// <summary>Training points.</summary>
    public IReadOnlyDictionary<long, double> Train => _train;

    /// <summary>Evaluation points.</summary>
    public IReadOnlyDictionary<long, double> Eval => _eval;

    /// <summary>Drops points after <paramref name="step"/> (when resuming from an earlier checkpoint).</summary>
    public void TruncateAfter(long step)
    {
        foreach (long k in _train.Keys.Where(k => k > step).ToList()) _train.Remove(k);
        foreach (long k in _eval.Keys.Where(k => k > step).ToList()) _eval.Remove(k);
    }

    /// <summary>Writes <c>curve.csv</c> (step, kind, value), atomically.</summary>
    public void SaveCsv(string path)
    {
        var lines = new List<string> { "step,kind,value" };
        lines.AddRange(_train.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key},train,{kv.Value:R}")));
        lines.AddRange(_eval.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key},{EvalName},{kv.Value:R}")));
        AtomicFile.WriteAllText(path, string.Join('\n', lines) + "\n");
    }

    /// <summary>Reads a CSV written by <see cref="SaveCsv"/> (missing file: empty curve).</summary>
    public static LossCurve LoadCsv(string path, string evalName)
    {
        var curve = new LossCurve(evalName);
        if (!File.Exists(path)) return curve;
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            string[] p = line.Split(',');
            if (p.Length != 3 || !long.TryParse(p[0], CultureInfo.InvariantCulture, out long step) || !double.TryParse(p[2], CultureInfo.InvariantCulture, out double v)) continue;
            if (p[1] == "train") curve.AddTrain(step, v); else curve.AddEval(step, v);
        }
        return curve;
    }
}
