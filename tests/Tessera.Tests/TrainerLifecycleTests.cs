using System.Globalization;
using System.Runtime.InteropServices;

namespace Tessera.Tests;

/// <summary>
/// The engine's shared behaviours through each real trainer: a diverging run keeps its last good checkpoint, and
/// SIGTERM to a real <c>tessera</c> process writes a checkpoint from which <c>--resume</c> continues bit for bit.
/// </summary>
[Collection("serial")]
public sealed class TrainerLifecycleTests
{
    /// <summary>
    /// Trains the tiny trainer of <paramref name="kind"/> two steps, then resumes with an enormous learning rate (Adam
    /// moves every weight by about that much).
    /// </summary>
    [Theory]
    [MemberData(nameof(TinyTrainers.Kinds), MemberType = typeof(TinyTrainers))]
    public void Divergence_keeps_the_last_good_checkpoint(string kind)
    {
        using var dir = new TempDir();
        var o = new TrainingOptions { Steps = 6, Batch = 2, CheckpointEvery = 1, EvalEvery = 100, LearningRate = 1e-3, Optimizer = OptimizerKind.Adam, StopAt = 2, Seed = 1 };
        TinyTrainers.Train(kind, o, dir.Path, resume: false, progress: null);
        string ckpt = Path.Combine(dir.Path, TrainingEngine.CheckpointFile);
        byte[] lastGood = File.ReadAllBytes(ckpt);
        var e = Assert.Throws<InvalidOperationException>(() => TinyTrainers.Train(kind, o with { StopAt = 0, LearningRate = 1e30, WarmupSteps = 0 }, dir.Path, resume: true,
            new InlineProgress<TrainingProgress>(_ => lastGood = File.ReadAllBytes(ckpt))));
        Assert.Contains("not finite", e.Message.Replace("loss is NaN", "not finite").Replace("loss is ∞", "not finite").Replace("loss is -∞", "not finite"));
        Assert.Contains(ckpt, e.Message);
        Assert.Equal(lastGood, File.ReadAllBytes(ckpt));
        using var f = SafeTensors.Load(ckpt);
        Assert.All(f.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)), kv => Assert.True(TorchSharp.torch.isfinite(kv.Value).all().item<bool>(), kv.Key));
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>
    /// The built command-line program: the copy the build puts beside the test assembly (it references the CLI), else
    /// src/Tessera.Cli/bin/CONFIG/FRAMEWORK/Tessera.Cli.dll of the checkout.
    /// </summary>
    private static string CliDll()
    {
        string baseDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(Path.Combine(baseDir, "Tessera.Cli.dll")) && File.Exists(Path.Combine(baseDir, "Tessera.Cli.runtimeconfig.json")))
            return Path.Combine(baseDir, "Tessera.Cli.dll");
        string framework = Path.GetFileName(baseDir), configuration = Path.GetFileName(Path.GetDirectoryName(baseDir)!);
        string? dir = baseDir;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Tessera.sln"))) dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        string dll = Path.Combine(dir, "src", "Tessera.Cli", "bin", configuration, framework, "Tessera.Cli.dll");
        Assert.True(File.Exists(dll), dll);
        return dll;
    }

    /// <summary>
    /// Starts <c>tessera VERB train</c> as a child process with a constant learning rate and a long run, sends
    /// SIGTERM once its first checkpoint exists, and checks that it exits with a checkpoint written at the step it
    /// reached; then resumes it in-process for two more steps and compares with an uninterrupted run to that step.
    /// </summary>
    private static void SigtermCheckpointsAndResumes(string[] verbArgs)
    {
        using var dir = new TempDir();
        string run = dir.File("interrupted"), ckpt = Path.Combine(run, TrainingEngine.CheckpointFile);
        string[] Args(string outDir, int steps, params string[] extra) =>
            [.. verbArgs, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--schedule", "constant", "--eval-every", "100000", "--out", outDir, "--seed", "5", "-q", .. extra];
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(CliDll());
        foreach (string arg in Args(run, 100_000, "--checkpoint-every", "2")) psi.ArgumentList.Add(arg);
        using var child = Process.Start(psi)!;
        try
        {
            var stdout = child.StandardOutput.ReadToEndAsync();
            var stderr = child.StandardError.ReadToEndAsync();
            var watch = Stopwatch.StartNew();
            while (!File.Exists(ckpt) && !child.HasExited && watch.Elapsed < TimeSpan.FromMinutes(10)) Thread.Sleep(50);
            Assert.True(File.Exists(ckpt), $"no checkpoint after {watch.Elapsed} (exited: {child.HasExited})");
            Assert.Equal(0, Kill(child.Id, 15));
            Assert.True(child.WaitForExit(600_000), "the child did not stop after SIGTERM");
            Assert.True(child.ExitCode == 1, $"exit {child.ExitCode}: {stdout.Result} {stderr.Result}");
            Assert.Contains("cancelled", stdout.Result + stderr.Result);
        }
        finally
        {
            // A failed assertion must not leave the child running (it would also hold the test runner's pipes).
            if (!child.HasExited) child.Kill(entireProcessTree: true);
        }
        long reached = long.Parse(SafeTensors.ReadHeader(ckpt).Metadata["step"], CultureInfo.InvariantCulture);
        Assert.InRange(reached, 2, 99_999);

        int target = (int)reached + 2;
        var (code, output) = CliTests.Run(Args(run, target, "--resume"));
        Assert.True(code == 0, output);
        Assert.Equal(0, CliTests.Run(Args(dir.File("straight"), target)).Code);
        using var a = SafeTensors.Load(Path.Combine(dir.File("straight"), TrainingEngine.CheckpointFile));
        using var b = SafeTensors.Load(ckpt);
        Assert.Equal(target.ToString(CultureInfo.InvariantCulture), b.Metadata["step"]);
        foreach (var (k, v) in a.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) || kv.Key.StartsWith("ema.", StringComparison.Ordinal)))
            Assert.True(Same.Tensors(v, b.Tensors[k]), k);
    }

    [Fact]
    public void Sigterm_to_diffusion_train_writes_a_checkpoint_and_resume_continues()
    {
        SigtermCheckpointsAndResumes(["diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--batch", "4", "--limit", "16",
            "--sample-every", "0", "--warmup", "2"]);
    }

    [Fact]
    public void Sigterm_to_seg_train_writes_a_checkpoint_and_resume_continues()
    {
        SigtermCheckpointsAndResumes(["seg", "train", "--model", "gcn", "--k", "3", "--width", "16", "--batch", "2", "--eval-scenes", "2"]);
    }

    [Fact]
    public void Sigterm_to_sam_train_writes_a_checkpoint_and_resume_continues()
    {
        SigtermCheckpointsAndResumes(["sam", "train", "--width", "64", "--depth", "2", "--batch", "2", "--rounds", "2", "--eval-scenes", "1"]);
    }
}
