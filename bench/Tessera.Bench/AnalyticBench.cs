namespace Tessera.Bench;

/// <summary>Sampler error against NFE on the 2-D ring mixture and a 64-D mixture (see tessera diffusion analytic --bench).</summary>
internal static class AnalyticBench
{
    public static void Run(string[] args)
    {
        var configs = args.Length > 0
            ? args.Select(a => a.Split('/')).Select(p => (p[0], p.Length > 1 ? p[1] : "karras")).ToArray()
            : new[] { ("euler", "karras"), ("heun", "karras"), ("dpm_2", "karras"), ("lms", "karras"), ("dpmpp_2m", "karras"), ("dpmpp_3m", "karras"), ("dpmpp_3m", "exponential"), ("unipc", "karras"), ("unipc", "exponential"), ("deis", "karras"), ("ipndm", "karras"), ("ddim", "karras"), ("rk45", "karras") };
        foreach (var (label, problem) in Problems())
        {
            var cells = AnalyticBenchmark.Run(label, problem, configs, AnalyticBenchmark.Budgets);
            Console.WriteLine($"\n{label}: RMS error vs converged PF-ODE (rows: sampler/grid; columns: NFE budget; actual NFE in brackets where different)");
            Console.WriteLine("sampler/grid".PadRight(24) + string.Concat(AnalyticBenchmark.Budgets.Select(b => b.ToString(CultureInfo.InvariantCulture).PadLeft(16))));
            foreach (var group in cells.GroupBy(c => $"{c.Sampler}/{c.Grid}"))
                Console.WriteLine(group.Key.PadRight(24) + string.Concat(group.Select(c => (c.Nfe == 0 ? "over budget" : c.Rmse.ToString("0.000e+0", CultureInfo.InvariantCulture) + (c.Nfe != c.Budget ? $"[{c.Nfe}]" : "")).PadLeft(16))));
        }
    }

    public static IEnumerable<(string, AnalyticProblem)> Problems()
    {
        foreach (string name in BuiltInProblems.Names)
        {
            var b = BuiltInProblems.Get(name);
            yield return (b.Label, new AnalyticProblem(b.Mixture, b.Noise()));
        }
    }
}
