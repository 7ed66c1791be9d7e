using System.Globalization;

namespace Tessera.Tests;

/// <summary>
/// Data-parallel training under Open MPI's mpirun with real processes (two ranks, one thread each), against the
/// single-process computation it must equal. A run on R ranks with accumulation A is, by construction, the run of one
/// process with accumulation R·A: the same micro-batches (same examples, same (seed, step, micro-batch) randomness,
/// per-micro-batch BatchNorm statistics), so that is the reference. With two ranks the all-reduce adds the two halves of
/// the gradient exactly as one process adds its second micro-batch to its first, so parameters and losses agree to the
/// last bit in practice; the tolerance 1e-5 (absolute, on weights of order 0.01–1) leaves room for another reduction
/// order (more ranks, another MPI). BatchNorm running statistics are merged in float64 from each rank's float32 update,
/// where one process updates in float32 twice: they differ by float32 rounding (observed ≤ 4e-7), within the same 1e-5.
/// </summary>
[Collection("serial")]
public class DataParallelTests
{
    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string[] Seg(string outDir, int steps, params string[] extra) =>
        ["seg", "train", "--model", "gcn", "--k", "3", "--width", "16", "--steps", N(steps), "--batch", "4", "--eval-every", N(steps), "--eval-scenes", "64",
         "--checkpoint-every", "1", "--out", outDir, "--seed", "5", "-q", .. extra];

    private static string[] Diffusion(string outDir, int steps, params string[] extra) =>
        ["diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--steps", N(steps), "--batch", "4", "--limit", "16",
         "--checkpoint-every", "1", "--sample-every", "0", "--warmup", "2", "--out", outDir, "--seed", "7", "-q", .. extra];

    private static string[] Sam(string outDir, int steps, params string[] extra) =>
        ["sam", "train", "--width", "64", "--depth", "2", "--batch", "4", "--rounds", "2", "--steps", N(steps), "--eval-every", N(steps), "--eval-scenes", "2",
         "--out", outDir, "--seed", "3", "-q", .. extra];

    /// <summary>
    /// Every tensor of the two checkpoints within <paramref name="tolerance"/>; the same step. The optimiser's state is a
    /// byte blob (TorchSharp's serialisation), comparable only bit for bit: <paramref name="optimizerBlob"/> false leaves it
    /// out, for runs whose arithmetic differs in the last bits (the weights it moved are compared).
    /// </summary>
    internal static void SameWeights(string runA, string runB, double tolerance = 1e-5, bool optimizerBlob = true)
    {
        using var a = SafeTensors.Load(Path.Combine(runA, "checkpoint.safetensors"));
        using var b = SafeTensors.Load(Path.Combine(runB, "checkpoint.safetensors"));
        Assert.Equal(a.Metadata["step"], b.Metadata["step"]);
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        foreach (var (k, x) in a.Tensors)
        {
            if (k == "optimizer" && !optimizerBlob) continue;
            using var scope = TorchSharp.torch.NewDisposeScope();
            var y = b.Tensors[k];
            Assert.Equal(x.shape, y.shape);
            double diff = x.numel() == 0 ? 0 : (x.to(TorchSharp.torch.ScalarType.Float64) - y.to(TorchSharp.torch.ScalarType.Float64)).abs().max().item<double>();
            Assert.True(diff <= tolerance, $"{k}: max |Δ| {diff} > {tolerance}");
        }
    }

    /// <summary>The same curve.csv rows: training losses within 1e-6 relative, evaluations within <paramref name="evalTolerance"/>.</summary>
    internal static void SameCurve(string runA, string runB, double evalTolerance)
    {
        var a = File.ReadAllLines(Path.Combine(runA, "curve.csv"));
        var b = File.ReadAllLines(Path.Combine(runB, "curve.csv"));
        Assert.Equal(a.Length, b.Length);
        for (int i = 1; i < a.Length; i++)
        {
            var (x, y) = (a[i].Split(','), b[i].Split(','));
            Assert.Equal(x[..2], y[..2]);
            double u = double.Parse(x[2], CultureInfo.InvariantCulture), v = double.Parse(y[2], CultureInfo.InvariantCulture);
            double tol = x[1] == "train" ? 1e-6 * Math.Max(1, Math.Abs(u)) : evalTolerance;
            Assert.True(Math.Abs(u - v) <= tol, $"curve row {i} ({a[i]} vs {b[i]})");
        }
    }

    private static void NoTemporaryFiles(string run) =>
        Assert.Empty(Directory.EnumerateFiles(run, "*.tmp", SearchOption.AllDirectories));

    [SkippableFact]
    public void Seg_train_on_two_ranks_equals_one_process_with_the_same_batch()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        string output = MpiChild.Ok(2, Seg(dir.File("two"), 3));
        Assert.Contains("rank 0/2 from Open MPI (OMPI_COMM_WORLD_RANK/SIZE)", output);
        Assert.Contains("rank 1/2 from Open MPI (OMPI_COMM_WORLD_RANK/SIZE)", output);
        Assert.Single(output.Split('\n'), l => l.StartsWith("mIoU ", StringComparison.Ordinal)); // rank 0 reports
        // Reference: one process, no launcher, the same global batch of 4 as 2 micro-batches of 2 (per-rank BatchNorm).
        string single = MpiChild.Ok(0, Seg(dir.File("one"), 3, "--accumulate", "2"));
        Assert.DoesNotContain("rank", single);
        SameWeights(dir.File("one"), dir.File("two"));
        // The evaluation is split over the ranks (chunks 0 and 1 of 32 scenes) and merged by summing confusion matrices;
        // argmax over logits from running statistics that agree to 4e-7 can flip a rare pixel: 1e-3 of mIoU.
        SameCurve(dir.File("one"), dir.File("two"), evalTolerance: 1e-3);
        Assert.True(File.Exists(Path.Combine(dir.File("two"), "metrics.json")));
        NoTemporaryFiles(dir.File("two"));
    }

    [SkippableFact]
    public void Diffusion_train_on_two_ranks_equals_one_process_with_the_same_batch()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        MpiChild.Ok(2, Diffusion(dir.File("two"), 3));
        // The U-Net has GroupNorm only; each micro-batch draws σ, noise and label dropout from (seed, step, micro-batch),
        // so the reference is one process with the batch as two micro-batches. The EMA copy (ema.*) is compared too.
        MpiChild.Ok(0, Diffusion(dir.File("one"), 3, "--accumulate", "2"));
        SameWeights(dir.File("one"), dir.File("two"));
        SameCurve(dir.File("one"), dir.File("two"), evalTolerance: 0);
        NoTemporaryFiles(dir.File("two"));
    }

    [SkippableFact]
    public void Sam_train_on_two_ranks_equals_one_process_with_the_same_batch()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        MpiChild.Ok(2, Sam(dir.File("two"), 2));
        // Prompts are drawn from each micro-batch's generator: the reference is the batch as two micro-batches.
        MpiChild.Ok(0, Sam(dir.File("one"), 2, "--accumulate", "2"));
        SameWeights(dir.File("one"), dir.File("two"));
        SameCurve(dir.File("one"), dir.File("two"), evalTolerance: 1e-3);
        Assert.True(File.Exists(Path.Combine(dir.File("two"), "model.safetensors")));
        NoTemporaryFiles(dir.File("two"));
    }

    [SkippableFact]
    public void Stop_and_resume_on_two_ranks_then_one_continues_the_same_run()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        string run = dir.File("split");
        var stopped = MpiChild.Ok(2, Seg(run, 4, "--stop-at", "2"));
        Assert.Contains("stopped before step 2", stopped);
        MpiChild.Ok(2, Seg(run, 4, "--resume", "--stop-at", "3"));
        // The last step in one process: the same global batch as 2 micro-batches.
        MpiChild.Ok(0, Seg(run, 4, "--resume", "--accumulate", "2"));
        MpiChild.Ok(0, Seg(dir.File("straight"), 4, "--accumulate", "2"));
        SameWeights(dir.File("straight"), run);
        SameCurve(dir.File("straight"), run, evalTolerance: 1e-3);
    }

    [SkippableFact]
    public void A_rank_killed_ends_the_other_within_10_s_and_leaves_the_checkpoint_intact()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        string run = dir.File("run");
        using var job = MpiChild.Start(2, Seg(run, 100_000));
        var output = job.StandardOutput.ReadToEndAsync();
        var errors = job.StandardError.ReadToEndAsync();
        string checkpoint = Path.Combine(run, "checkpoint.safetensors");
        var wait = Stopwatch.StartNew();
        while (!File.Exists(checkpoint) && !job.HasExited && wait.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(200);
        Assert.True(File.Exists(checkpoint), "no checkpoint within 3 min: " + (job.HasExited ? output.Result + errors.Result : "still running"));
        Thread.Sleep(1000); // a few more steps and checkpoints
        var ranks = Ranks(job.Id);
        Assert.Equal(2, ranks.Count);
        using (var victim = Process.GetProcessById(ranks[1])) victim.Kill(); // SIGKILL
        var killed = Stopwatch.StartNew();
        bool ended = job.WaitForExit(TimeSpan.FromSeconds(10));
        double seconds = killed.Elapsed.TotalSeconds;
        if (!ended) job.Kill(entireProcessTree: true);
        Assert.True(ended, "mpirun still running 10 s after a rank was killed");
        job.WaitForExit();
        Assert.NotEqual(0, job.ExitCode);
        // mpirun may return while the other rank is still on its way out (its SIGTERM handler, the reaping): the bar is
        // that every rank is gone within 10 s of the kill.
        while (Alive(ranks[0]) && killed.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(100);
        Assert.False(Alive(ranks[0]), $"rank 0 (pid {ranks[0]}) still alive {killed.Elapsed.TotalSeconds:0.0} s after rank 1 was killed (mpirun returned after {seconds:0.0} s)");
        // The checkpoint is whole (atomic replacement) and loads; no temporary file is left beside it.
        using (var ckpt = SafeTensors.Load(checkpoint)) Assert.True(long.Parse(ckpt.Metadata["step"], CultureInfo.InvariantCulture) >= 1);
        NoTemporaryFiles(run);
    }

    [SkippableFact]
    public void A_rank_that_raises_ends_the_job_with_its_error()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        var watch = Stopwatch.StartNew();
        // A batch of 3 does not split over 2 ranks: every rank raises, reports and aborts the job.
        var (code, output) = MpiChild.Run(2, Seg(dir.File("run"), 2, "--batch", "3"));
        Assert.NotEqual(0, code);
        Assert.Contains("must be a multiple of the ranks", output);
        Assert.True(watch.Elapsed < TimeSpan.FromMinutes(1), $"took {watch.Elapsed}");
        Assert.False(File.Exists(Path.Combine(dir.File("run"), "checkpoint.safetensors")));
    }

    /// <summary>The rank processes mpirun <paramref name="mpirun"/> started, by rank.</summary>
    private static List<int> Ranks(int mpirun)
    {
        var found = new SortedDictionary<int, int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(d, "stat"));
                int ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (ppid != mpirun) continue;
                var env = File.ReadAllText(Path.Combine(d, "environ")).Split('\0');
                if (env.FirstOrDefault(e => e.StartsWith("OMPI_COMM_WORLD_RANK=", StringComparison.Ordinal)) is { } r)
                    found[int.Parse(r["OMPI_COMM_WORLD_RANK=".Length..], CultureInfo.InvariantCulture)] = pid;
            }
            catch (IOException)
            {
            }
        }
        return [.. found.Values];
    }

    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
}
