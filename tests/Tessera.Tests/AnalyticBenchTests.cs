namespace Tessera.Tests;

/// <summary>The analytic bench: memory that stays flat over many sampler runs, SW2 against a cached target, its JSON and its problems.</summary>
[Collection("serial")]
public class AnalyticBenchTests
{
    /// <summary>
    /// Every sampler, run after run on the 64-D problem's float64 states: no tensor outlives its run (the live count of
    /// TorchSharp's own statistics comes back to the same number), and the resident set does not grow with the number of
    /// runs. The runs measured are made with the garbage collector held off, so nothing left to a finalizer can be freed
    /// behind the test's back: before the samplers' numbers became explicit Scalars (ScalarArithmetic), the
    /// finalizer-held Scalars fragmented the native heap by megabytes per step (an 80-step Euler run on 4,096 noises:
    /// 1 GB), and this window grew by over a gigabyte.
    /// </summary>
    [Fact]
    public void Memory_stays_flat_over_many_sampler_runs()
    {
        var builtIn = BuiltInProblems.Get("mixture64");
        using var noise = builtIn.Noise(1024);
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
        Pass();
        long live = Live();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.True(GC.TryStartNoGCRegion(200_000_000), "could not hold off the garbage collector");
        long before = Rss(), managedBefore = GC.GetTotalMemory(false);
        try
        {
            for (int i = 0; i < 2; i++) Pass();
        }
        finally
        {
            if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
        long after = Rss(), managed = GC.GetTotalMemory(false) - managedBefore;
        Assert.Equal(live, Live());
        // Beyond the managed garbage the window accumulates, two passes (36 runs, 360 steps) may not take more than 60 MB.
        double nativeMb = (after - before - managed) / 1048576.0;
        Assert.True(nativeMb < 60, $"resident set grew by {(after - before) / 1048576.0:0} MB over 36 runs, {managed / 1048576.0:0} MB of it managed (from {before / 1048576.0:0} MB)");
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
