using Tessera.Diffusion.Evaluation;
using Tessera.Runtime.Sharding;

namespace Tessera.Tests;

public class ShardingTests
{
    [Fact]
    public void ParseAcceptsIOverNAndRejectsTheRest()
    {
        Assert.Equal(new Shard(2, 8), Shard.Parse("2/8"));
        foreach (var bad in new[] { "8/8", "-1/4", "1/0", "1", "a/b", "1/2/3", "" })
            Assert.Throws<TesseraUserException>(() => Shard.Parse(bad));
    }

    [Fact]
    public void RoundRobinCoversEveryItemExactlyOnce()
    {
        var items = Enumerable.Range(0, 23).Select(i => $"img{i:D3}").ToList();
        var all = Enumerable.Range(0, 5).SelectMany(i => new Shard(i, 5).Select(items)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(items, all);
        // item k belongs to shard k mod N, written out by hand for N = 3
        Assert.Equal(["img000", "img003", "img006"], new Shard(0, 3).Select(items).Take(3));
        Assert.Equal(["img002", "img005"], new Shard(2, 3).Select(items).Take(2));
    }

    [Fact]
    public void ResolvesKubernetesAndSlurmVariables()
    {
        var k8s = Shard.Resolve(null, 4, new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "3" });
        Assert.Equal(new Shard(3, 4, ShardSource.Kubernetes), k8s);
        Assert.Throws<TesseraUserException>(() => Shard.Resolve(null, null, new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "3" }));
        Assert.Throws<TesseraUserException>(() => Shard.Resolve(null, 3, new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "3" }));
        // --array=1-4: task ids 1..4, minimum 1
        var slurm = Shard.Resolve(null, null, new Dictionary<string, string>
        { ["SLURM_ARRAY_TASK_ID"] = "2", ["SLURM_ARRAY_TASK_MIN"] = "1", ["SLURM_ARRAY_TASK_COUNT"] = "4" });
        Assert.Equal(new Shard(1, 4, ShardSource.Slurm), slurm);
        Assert.Equal(Shard.All, Shard.Resolve(null, null, new Dictionary<string, string>()));
        Assert.Equal(new Shard(0, 2), Shard.Resolve("0/2", null, new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = "1" }));
    }

    [Fact]
    public void ShardedWorkSkipsFinishedItemsReportsFailuresAndWritesItsSummaryLast()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tessera-shard-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var items = Enumerable.Range(0, 10).Select(i => $"x{i}").ToList();
            var shard = new Shard(1, 2);
            string Out(string item) => Path.Combine(dir, item + ".txt");
            int calls = 0;
            void Process(string item)
            {
                calls++;
                if (item == "x5") throw new TesseraUserException($"{item}: cannot be decoded");
                File.WriteAllText(Out(item), item);
            }
            string summaryPath = Path.Combine(dir, ShardSummary.FileName(shard));
            // a first run killed after two items: simulated by pre-writing them
            File.WriteAllText(Out("x1"), "x1");
            File.WriteAllText(Out("x3"), "x3");
            var s = ShardedWork.Run(items, shard, i => i, i => File.Exists(Out(i)), Process, summaryPath);
            Assert.Equal(5, s.Assigned);
            Assert.Equal(2, s.Skipped);
            Assert.Equal(2, s.Done);
            Assert.Equal(["x5"], s.Failed.Keys);
            Assert.Equal(3, calls);
            Assert.Equal("1/2", ShardSummary.Load(summaryPath).Shard);
            Assert.False(File.Exists(Out("x0")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ManifestCheckFindsMissingAndDuplicatedItems()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tessera-manifest-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string[] all = ["a", "b", "c"];
            foreach (var i in all) File.WriteAllText(Path.Combine(dir, i + ".json"), "{}");
            new ShardManifest { Shard = "0/2", TotalItems = 3, Items = new Dictionary<string, string[]> { ["a"] = ["a.json"], ["c"] = ["c.json"] } }
                .Save(Path.Combine(dir, ShardManifest.FileName(new Shard(0, 2))));
            var problems = ShardManifest.Check(dir, all);
            Assert.Contains(problems, p => p.StartsWith("shard 1/2", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.StartsWith("b: in no shard", StringComparison.Ordinal));
            new ShardManifest { Shard = "1/2", TotalItems = 3, Items = new Dictionary<string, string[]> { ["b"] = ["b.json"] } }
                .Save(Path.Combine(dir, ShardManifest.FileName(new Shard(1, 2))));
            Assert.Empty(ShardManifest.Check(dir, all));
            File.Delete(Path.Combine(dir, "b.json"));
            Assert.Equal(["b: output b.json is missing"], ShardManifest.Check(dir, all));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MergedFeatureStatisticsGiveTheSingleProcessFrechetDistance()
    {
        var g = new torch.Generator(7);
        using var a = torch.randn([300, 12], torch.ScalarType.Float64, generator: g) * 2 + 1;
        using var b = torch.randn([257, 12], torch.ScalarType.Float64, generator: g).matmul(torch.randn([12, 12], torch.ScalarType.Float64, generator: g));
        double single = FrechetDistance.Compute(a, b);
        using var sa = new FeatureStatistics(12);
        foreach (var (lo, hi) in new[] { (0, 97), (97, 98), (98, 300) })
        {
            using var part = new FeatureStatistics(12);
            part.Add(a.narrow(0, lo, hi - lo));
            sa.Merge(part);
        }
        using var sb = new FeatureStatistics(12);
        sb.Add(b);
        string path = Path.Combine(Path.GetTempPath(), $"tessera-stats-{Guid.NewGuid():N}.safetensors");
        try
        {
            sb.Save(path);
            using var back = FeatureStatistics.Load(path);
            Assert.Equal(257, back.Count);
            var (m1, c1) = FrechetDistance.Statistics(a);
            var (m2, c2) = sa.MeanCovariance();
            Assert.True(m1.allclose(m2, 1e-12, 1e-12), "mean");
            Assert.True(c1.allclose(c2, 1e-10, 1e-10), "covariance");
            double merged = sa.FrechetDistanceTo(back);
            Assert.Equal(single, merged, single * 1e-10);
        }
        finally { File.Delete(path); }
    }
}
