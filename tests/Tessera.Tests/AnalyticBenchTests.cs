using System.Diagnostics;
using System.Text.Json;
using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Samplers;
using TorchSharp;

namespace Tessera.Tests;

/// <summary>The analytic bench: memory that stays flat over many sampler runs, SW2 against a cached target, its JSON and its problems.</summary>
[Collection("serial")]
public class AnalyticBenchTests
{
    /// <summary>
    /// Every sampler, run after run on the 64-D problem's [4096, 64] float64 states: no tensor outlives its run (the live
    /// count of TorchSharp's own statistics comes back to the same number), and the resident set does not grow with the
    /// number of runs. Before the samplers' numbers became explicit Scalars (ScalarArithmetic), the finalizer-held Scalars
    /// fragmented the native heap by about 12 MB per step on these states (an 80-step Euler run: 1 GB), so the window
    /// below grew by gigabytes.
    /// </summary>
    [Fact]
    public void Memory_stays_flat_over_many_sampler_runs()
    {
        var builtIn = BuiltInProblems.Get("mixture64");
        using var noise = builtIn.Noise();
        var problem = new AnalyticProblem(builtIn.Mixture, noise);
        problem.UseReference(noise);   // any [N, d] tensor: the test measures memory, not error
        string[] samplers = [.. SamplerRegistry.Names.Where(n => n is not "rk45" and not "annealed_langevin")];

        long Live() => DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        static long Rss()
        {
            using var self = Process.GetCurrentProcess();
            return self.WorkingSet64;
        }
        void Pass()
        {
            foreach (string s in samplers) problem.Run(s, 10, "karras").Samples.Dispose();
        }

        Pass();   // warm-up: the cached references and libtorch's own buffers
        long live = Live(), start = Rss();
        Pass();
        Assert.Equal(live, Live());
        long afterOne = Rss();
        for (int i = 0; i < 3; i++) Pass();
        Assert.Equal(live, Live());
        long afterFour = Rss();
        // Three more passes (54 runs, 540 steps) may not take more than 150 MB: the managed heap's own growth
        // between collections and allocator noise, against gigabytes when every step leaked.
        double grownMb = (afterFour - afterOne) / 1048576.0;
        Assert.True(grownMb < 150, $"resident set grew by {grownMb:0} MB over 3 passes (first pass from {start / 1048576.0:0} MB to {afterOne / 1048576.0:0} MB)");
    }

    /// <summary>SW2 against a cached target is, to the last bit, the textbook computation with torch.sort over the columns.</summary>
    [Fact]
    public void Cached_sw2_target_gives_the_torch_sort_distance_bit_for_bit()
    {
        var mixture = AnalyticProblem.RandomMixture(16, 5, 3);
        using var a = torch.randn([777, 16], torch.ScalarType.Float64, generator: new torch.Generator(11)).mul_(3);
        using var b = mixture.Sample(777, new torch.Generator(12));
        double expected;
        using (var scope = torch.NewDisposeScope())
        {
            using var g = new torch.Generator(13);
            var theta = torch.randn([16, 64], torch.ScalarType.Float64, generator: g);
            theta = theta / theta.norm(0, keepdim: true);
            var pa = torch.sort(a.matmul(theta), 0).values;
            var pb = torch.sort(b.matmul(theta), 0).values;
            expected = (pa - pb).square().mean().sqrt().item<double>();
        }
        using var target = SlicedWassersteinTarget.Seeded(b, 64, 13);
        Assert.Equal(expected, target.Distance(a));
        Assert.Equal(expected, target.Distance(a));   // reusable
        Assert.Equal(expected, SlicedWasserstein.Distance(a, b, 64, new torch.Generator(13)));
        Assert.Equal(0.0, target.Distance(b));
    }

    /// <summary>The bench JSON keeps cells without a number (rk45 over budget) instead of failing on NaN.</summary>
    [Fact]
    public void Bench_json_writes_cells_without_a_number()
    {
        string json = AnalyticBenchmark.ToJson([new BenchmarkCell("2-D ring", "rk45", "karras", 8, 0, double.NaN, double.NaN), new BenchmarkCell("2-D ring", "euler", "karras", 8, 8, 0.25, 0.5)]);
        using var doc = JsonDocument.Parse(json);
        var cells = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(2, cells.Length);
        Assert.Equal("NaN", cells[0].GetProperty("Rmse").GetString());
        Assert.Equal(0.25, cells[1].GetProperty("Rmse").GetDouble());
    }

    /// <summary>By default the bench runs issue #19's two built-in problems; a name that is not one is refused by name.</summary>
    [Fact]
    public void Bench_problems_default_to_the_ring_and_the_64d_mixture_and_unknown_ones_are_refused()
    {
        var setup = new AnalyticSetup();
        Assert.Equal(new[] { "ring", "mixture64" }, setup.BenchProblems);
        Assert.Equal(2 * (AnalyticSetup.BenchDeterministic.Length * AnalyticBenchmark.Budgets.Length + SamplerRegistry.StochasticNames.Count * AnalyticSetup.BenchStochasticBudgets.Length), setup.BenchCells);
        Assert.Equal(4 * setup.BenchCells / 2, (setup with { BenchProblems = BuiltInProblems.Names }).BenchCells);
        var e = Assert.Throws<TesseraUserException>(() => (setup with { BenchProblems = ["ring", "bogus"] }).Bench(Path.GetTempPath()));
        Assert.Equal("BenchProblems", e.Parameter);
        Assert.Contains("bogus", e.Message);
    }
}
