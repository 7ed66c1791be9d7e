using Tessera.Bench.Fuzz;

namespace Tessera.Bench;

/// <summary><c>fuzz PARSER|all --count N --seed S [--findings DIR]</c>: a campaign of mutated inputs against parsers of user files.</summary>
internal static class FuzzBench
{
    public static void Run(string[] args)
    {
        string which = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
        int count = 1000, seed = 1;
        string? findings = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--count") count = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--seed") seed = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--findings") findings = args[i + 1];
        }
        var names = which == "all" ? FuzzTargets.All.Keys.ToList() : [which];
        foreach (string name in names)
        {
            if (!FuzzTargets.All.TryGetValue(name, out var make))
                throw new ArgumentException($"unknown parser '{name}'; expected all or one of {string.Join(", ", FuzzTargets.All.Keys)}");
            var report = FuzzCampaign.Run(make(), count, seed, findings ?? Path.Combine("artifacts", "fuzz"),
                n => { if (n % 10000 == 0) Console.Error.WriteLine($"  {name}: {n}"); });
            Console.WriteLine($"{report.Target}: {report.Inputs} inputs, {report.Accepted} accepted, {report.Rejected} rejected with a user error, " +
                $"{report.Findings.Sum(f => f.Count)} findings ({report.Findings.Count} distinct); worst {report.WorstTime.TotalMilliseconds:0} ms, " +
                $"worst allocation {report.WorstAllocation:N0} bytes; {report.Elapsed.TotalSeconds:0.0} s");
            foreach (var f in report.Findings)
                Console.WriteLine($"  {f.Count,7} × {f.Key}: {f.Detail.ReplaceLineEndings(" ")[..Math.Min(200, f.Detail.Length)]}{(f.SavedTo is null ? "" : $" [{f.SavedTo}]")}");
        }
    }
}
