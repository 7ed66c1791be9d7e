namespace Tessera.Tests;

/// <summary>
/// Batch verbs as shards of a scheduler's job: N = 3 separate processes with the variables Slurm and Kubernetes set,
/// one of them killed mid-way and restarted; the union of the shards' outputs must equal one process's, item for item
/// (sampled images: equal up to the CPU kernels' float rounding, which depends on batch size and thread count; the same
/// command run again reproduces its images bit for bit; docs/scale-out.md).
/// </summary>
public sealed class ShardedJobTests
{

    private static Process Start(IReadOnlyDictionary<string, string> env, params string[] args) => SchedulerChild.Start(env, args);

    private static (int Code, string Out) RunChild(IReadOnlyDictionary<string, string> env, params string[] args) => SchedulerChild.Run(env, args);

    private static Dictionary<string, string> Slurm(int i, int n) => new() { ["SLURM_ARRAY_TASK_ID"] = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), ["SLURM_ARRAY_TASK_MIN"] = "1", ["SLURM_ARRAY_TASK_COUNT"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    [Fact]
    public void Diffusion_sample_shards_killed_and_restarted_equal_one_process()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--steps", "2", "--batch", "4",
            "--limit", "8", "--sample-every", "0", "--conditional", "--out", dir.File("run"), "-q");
        Assert.True(code == 0, output);
        string ckpt = Path.Combine(dir.File("run"), "checkpoint.safetensors");
        string[] Sample(string outDir, int batch) => ["diffusion", "sample", "--checkpoint", ckpt, "--sampler", "heun", "--steps", "8", "--seeds", "0-14", "--out-dir", outDir,
            "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q"];
        (code, output) = CliTests.Run(Sample(dir.File("single"), 5));
        Assert.True(code == 0, output);

        // Kubernetes for shard 0, Slurm (array 1-3) for shards 1 and 2; another batch size than the single run.
        string sharded = dir.File("sharded");
        var k8s = new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "0" };
        (code, output) = RunChild(k8s, [.. Sample(sharded, 2), "--shard-count", "3"]);
        Assert.True(code == 0, output);
        Assert.Contains("shard 0/3 from the Kubernetes Indexed Job", output);
        // shard 1: killed as soon as its first image is there, then run again
        using (var p = Start(Slurm(1, 3), Sample(sharded, 1)))
        {
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2) && !File.Exists(Path.Combine(sharded, "000001.png"))) Thread.Sleep(20);
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(sharded, "summary.shard-00001-of-00003.json")) && !File.Exists(Path.Combine(sharded, "000013.png")));
        (code, output) = RunChild(Slurm(1, 3), Sample(sharded, 2));
        Assert.True(code == 0, output);
        Assert.Contains("shard 1/3 from the Slurm job array", output);
        (code, output) = RunChild(Slurm(2, 3), Sample(sharded, 2));
        Assert.True(code == 0, output);

        var expected = Enumerable.Range(0, 15).Select(s => $"{s:D6}.png").ToArray();
        Assert.Equal(expected, Directory.GetFiles(dir.File("single"), "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(expected, Directory.GetFiles(sharded, "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        Assert.Empty(Directory.GetFiles(sharded, "*.tmp", SearchOption.AllDirectories));
        // Another batch size (or thread count) runs other oneDNN kernels, which round differently: an image equals the
        // single process's up to that rounding, at most one grey level in a few pixels, never a different image.
        foreach (var name in expected)
            Same.ImagesUpToRounding(Path.Combine(dir.File("single"), name), Path.Combine(sharded, name));
        // The same command again (shard 2: same seeds, batch size and thread count) reproduces its images bit for bit.
        string again = dir.File("again");
        (code, output) = RunChild(Slurm(2, 3), Sample(again, 2));
        Assert.True(code == 0, output);
        foreach (var name in Directory.GetFiles(again, "*.png").Select(Path.GetFileName))
            Assert.True(File.ReadAllBytes(Path.Combine(again, name!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(sharded, name!))), $"{name} differs on a rerun");
        Assert.Equal(5, Directory.GetFiles(again, "*.png").Length);
        int assigned = 0;
        for (int i = 0; i < 3; i++)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(sharded, $"summary.shard-{i:D5}-of-00003.json")));
            assigned += doc.RootElement.GetProperty("assigned").GetInt32();
            Assert.Empty(doc.RootElement.GetProperty("failed").EnumerateObject());
        }
        Assert.Equal(15, assigned);
    }

    [Fact]
    public void Seg_eval_shards_from_slurm_variables_merge_to_one_process()
    {
        using var dir = SegEvalCliTests.RandomFolders(images: 10, classes: 3, seed: 11);
        string[] Eval(string json) => ["seg", "eval", "--gt", dir.File("gt"), "--pred", dir.File("pred"), "--num-classes", "3", "--json", json, "-q"];
        var (code, single) = CliTests.Run(Eval(dir.File("single.json")));
        Assert.Equal(0, code);
        for (int i = 0; i < 3; i++)
        {
            (code, var output) = RunChild(Slurm(i, 3), Eval(dir.File($"part{i}.json")));
            Assert.True(code == 0, output);
            Assert.Contains($"shard {i}/3 from the Slurm job array", output);
        }
        (code, var merged) = CliTests.Run("seg", "eval", "--merge", dir.File("part0.json"), dir.File("part1.json"), dir.File("part2.json"), "-q");
        Assert.Equal(0, code);
        string Line(string output) => output.Split('\n').Single(l => l.StartsWith("aAcc", StringComparison.Ordinal));
        Assert.Equal(Line(single), Line(merged));
    }
}
