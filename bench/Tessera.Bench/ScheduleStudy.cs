using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Samplers;

namespace Tessera.Bench;

/// <summary>
/// The study behind the fitted grids of issue #19 (docs/diffusion-samplers.md): on one built-in problem, how the
/// error at σ = 0 of the baselines on the evaluation noise is shared among trajectories (analyse=1), GITS'
/// dynamic-programming grid alone (Euler cost to the power given, default 2), and coordinate descent from it under other
/// losses (losses=rms,trim1,trim5,log,l1; bound=max |Δ log σ| from the DP grid). Fitting noise: seed 1,000,000,007
/// (fit=512 rows); evaluation noise: the problem's own. Arguments key=value: problem nfe=… samplers=… fine=160 finemin=1e-3.
/// </summary>
internal static class ScheduleStudy
{
    public static void Run(string[] args)
    {
        var a = args.Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        string name = a.TryGetValue("problem", out var pn) ? pn : "multiscale32";
        int fit = a.TryGetValue("fit", out var f) ? int.Parse(f, CultureInfo.InvariantCulture) : 512;
        int fine = a.TryGetValue("fine", out var fi) ? int.Parse(fi, CultureInfo.InvariantCulture) : 160;
        double fineMin = a.TryGetValue("finemin", out var fm) ? double.Parse(fm, CultureInfo.InvariantCulture) : 1e-3;
        int[] nfes = (a.TryGetValue("nfe", out var n) ? n : "8,10,12,13,14,15,16,18").Split(',').Select(int.Parse).ToArray();
        string[] samplers = (a.TryGetValue("samplers", out var s) ? s : "unipc,ipndm,dpmpp_3m").Split(',');
        double power = a.TryGetValue("power", out var pw) ? double.Parse(pw, CultureInfo.InvariantCulture) : 2;
        torch.set_num_threads(1);
        var problem = BuiltInProblems.Get(name);
        var mix = problem.Mixture;
        var noiseB = problem.Noise();
        var refB = FlowReference.Cached("bench-cache", mix, noiseB, 80);
        var noiseA = torch.randn([fit, mix.Dim], torch.ScalarType.Float64, generator: new torch.Generator(1_000_000_007));
        var refA = FlowReference.Cached("bench-cache", mix, noiseA, 80);

        if (a.ContainsKey("analyse"))
        {
            foreach (var (smp, g) in new[] { ("dpmpp_3m", "karras"), ("ipndm", "karras"), ("unipc", "karras") })
                foreach (int nfe in new[] { 12, 15, 18, 24, 32 })
                {
                    var grid = SigmaGrids.Karras(nfe, 0.002, 80);
                    using var x = SamplerRegistry.Sample(smp, mix.AsDenoiser(), noiseB * 80, grid, new GeneratorNoise(0));
                    using var per = (x - refB).square().sum(1);
                    var v = per.data<double>().ToArray();
                    double tot = v.Sum();
                    var top = v.OrderByDescending(t => t).Take(8).ToArray();
                    Console.WriteLine($"{smp}/{g} {nfe}: rms {Math.Sqrt(tot / v.Length / mix.Dim):e3}; top-8 share {string.Join(" ", top.Select(t => (t / tot).ToString("0.000", CultureInfo.InvariantCulture)))}; rms w/o top8 {Math.Sqrt((tot - top.Sum()) / v.Length / mix.Dim):e3}");
                }
        }

        // The teacher of MixtureSchedule (or another fine grid), and GITS' Euler costs raised to the power given.
        var fg = TeacherTrajectory.LogUniformGrid(fine, fineMin, 80);
        using var teacher = new TeacherTrajectory(fg, FlowReference.Trajectory(mix, noiseA, fg));
        var cost = StepSelection.EulerCosts(mix.AsDenoiser(), teacher, power);
        foreach (int nfe in nfes)
        {
            var idx = StepSelection.Select(cost, nfe);
            var grid = idx.Select(k => fg[k]).ToArray();
            var cells = new List<string>();
            foreach (string smp in samplers)
            {
                double eb = Err(mix, noiseB, refB, smp, grid), ea = Err(mix, noiseA, refA, smp, grid);
                double kb = Err(mix, noiseB, refB, smp, SigmaGrids.Karras(nfe, 0.002, 80));
                cells.Add($"{smp} {eb:e3} (fit {ea:e3}, karras {kb:e3})");
            }
            Console.WriteLine($"DP {nfe}: {string.Join("; ", cells)}  grid {string.Join(" ", grid.Select(g => g.ToString("G3", CultureInfo.InvariantCulture)))}");
            foreach (string smp in samplers)
            {
                Console.WriteLine($"   {smp} B: {Shares(mix, noiseB, refB, smp, grid)}");
                foreach (string loss in (a.TryGetValue("losses", out var ls) ? ls : "").Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    var refined = Refine(mix, noiseA * 80, refA, smp, grid, loss, a.TryGetValue("bound", out var bd) ? double.Parse(bd, CultureInfo.InvariantCulture) : 100);
                    Console.WriteLine($"   {smp} refined[{loss}]: B {Err(mix, noiseB, refB, smp, refined):e3} A {Err(mix, noiseA, refA, smp, refined):e3}");
                }
            }
        }
    }

    private static double Err(GaussianMixture mix, torch.Tensor noise, torch.Tensor reference, string sampler, double[] grid)
    {
        using var scope = torch.NewDisposeScope();
        var x = SamplerRegistry.Sample(sampler, mix.AsDenoiser(), noise * grid[0], grid, new GeneratorNoise(0));
        return (x - reference).square().mean().sqrt().item<double>();
    }

    private static string Shares(GaussianMixture mix, torch.Tensor noise, torch.Tensor reference, string sampler, double[] grid)
    {
        using var scope = torch.NewDisposeScope();
        var x = SamplerRegistry.Sample(sampler, mix.AsDenoiser(), noise * grid[0], grid, new GeneratorNoise(0));
        var v = (x - reference).square().sum(1).data<double>().ToArray();
        double tot = v.Sum();
        var top = v.OrderByDescending(t => t).Take(6).ToArray();
        return $"rms {Math.Sqrt(tot / v.Length / mix.Dim):e3} top {string.Join(" ", top.Select(t => (t / tot).ToString("0.000", CultureInfo.InvariantCulture)))}; w/o top6 {Math.Sqrt((tot - top.Sum()) / v.Length / mix.Dim):e3}";
    }

    private static double Loss(torch.Tensor x, torch.Tensor target, string loss)
    {
        using var scope = torch.NewDisposeScope();
        var per = (x - target).square().sum(1);
        var v = per.data<double>().ToArray();
        Array.Sort(v);
        double r = loss switch
        {
            "rms" => Math.Sqrt(v.Average()),
            "trim1" => Math.Sqrt(v.Take(v.Length - Math.Max(1, v.Length / 100)).Average()),
            "trim5" => Math.Sqrt(v.Take(v.Length - v.Length / 20).Average()),
            "log" => v.Select(t => Math.Log(t + 1e-30)).Average(),
            "l1" => v.Select(Math.Sqrt).Average(),
            _ => throw new ArgumentException(loss),
        };
        return double.IsFinite(r) ? r : double.PositiveInfinity;
    }

    private static double[] Refine(GaussianMixture mix, torch.Tensor start, torch.Tensor target, string sampler, double[] grid0, string loss, double bound)
    {
        double E(double[] g)
        {
            using var scope = torch.NewDisposeScope();
            return Loss(SamplerRegistry.Sample(sampler, mix.AsDenoiser(), start, g, new GeneratorNoise(0)), target, loss);
        }
        var grid = (double[])grid0.Clone();
        double best = E(grid), delta = 0.25;
        int nfe = grid.Length - 1;
        for (int sweep = 0; sweep < 10; sweep++)
        {
            bool moved = false;
            for (int i = 1; i < nfe; i++)
                foreach (double dir in new[] { -1.0, 1.0 })
                {
                    double c = Math.Exp(Math.Log(grid[i]) + dir * delta);
                    if (!(c < grid[i - 1]) || !(c > (i + 1 < nfe ? grid[i + 1] : 0))) continue;
                    if (Math.Abs(Math.Log(c / grid0[i])) > bound) continue;
                    var t = (double[])grid.Clone();
                    t[i] = c;
                    double e = E(t);
                    if (e < best) { best = e; grid = t; moved = true; break; }
                }
            if (!moved) delta /= 2;
        }
        return grid;
    }
}
