using Tessera.Diffusion.Training;

namespace Tessera.Tests;

/// <summary>
/// Long-running verbs other than the trainers stop within 2 s of SIGTERM (a child process running the built tessera,
/// signalled once its work is under way). The trainers, which must also write their checkpoint, are tested with them.
/// </summary>
public sealed class SignalTests(ITestOutputHelper log)
{
    private static void SendSigterm(int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    [SkippableFact]
    public void Long_verbs_stop_within_two_seconds_of_sigterm()
    {
        Gate.Require(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "SIGTERM is a POSIX signal");
        using var dir = new TempDir();
        using (var m = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet()))) m.Save(dir.File("model.safetensors"));
        using (var c = new Tessera.Diffusion.Evaluation.FashionClassifier()) Tessera.IO.Checkpoint.Save(c, dir.File("classifier.safetensors"));
        using (var img = TorchSharp.torch.randint(0, 256, [3, 256, 256], TorchSharp.torch.ScalarType.Byte)) Tessera.IO.ImageIO.SavePng(img, dir.File("image.png"));
        var verbs = new List<string[]>
        {
            new[] { "diffusion", "analytic", "--bench" },
            new[] { "diffusion", "sample", "--checkpoint", dir.File("model.safetensors"), "--steps", "2000", "--count", "64", "--out", dir.File("s.png") },
            new[] { "diffusion", "eval", "--checkpoint", dir.File("model.safetensors"), "--classifier", dir.File("classifier.safetensors"), "--steps", "500", "--count", "2000" },
            new[] { "posenc", "bench", "--steps", "100000" },
        };
        verbs.Add(["sam", "auto", "--checkpoint", Path.Combine(Fixtures.Dir("sam"), "sam_tiny.pth"), "--image", dir.File("image.png"), "--points-per-side", "500", "--out", dir.File("auto")]);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(verbs, new ParallelOptions { MaxDegreeOfParallelism = 2 }, args =>
        {
            string name = string.Join(" ", args.Take(2));
            using var p = Process.Start(CliErrorPathTests.Child(args))!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            // Under way: libtorch loaded, the options read, the work started.
            if (p.WaitForExit(6000))
            {
                failures.Add($"{name}: exited ({p.ExitCode}) before the signal; stderr: {stderr.Result.Trim()}");
                return;
            }
            var sw = Stopwatch.StartNew();
            SendSigterm(p.Id);
            bool stopped = p.WaitForExit(2000);
            sw.Stop();
            if (!stopped)
            {
                p.Kill(true);
                p.WaitForExit();
                failures.Add($"{name}: still running 2 s after SIGTERM");
            }
            else log.WriteLine($"{name}: stopped {sw.ElapsedMilliseconds} ms after SIGTERM, exit {p.ExitCode}");
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures));
    }
}
