using Tessera.Diffusion.Training;
using Tessera.Training;
using Tessera.Training.Distributed;

namespace Tessera.Bench;

/// <summary>
/// Data-parallel training throughput: images/s of DeepLabV3 (segspeed's: ResNet-18 width 32, ASPP, OS 16, 64×64
/// Fashion-MNIST scenes) and the diffusion U-Net (the default UNetConfig, 28×28 Fashion-MNIST) on 1 rank and on 2 ranks
/// of one thread each under mpirun, the same global batch, and the time per step spent in the gradient all-reduce.
/// The orchestrator starts this program as a worker, alone and under <c>mpirun -np 2</c>; the worker trains through the
/// library (SegTrainer/DiffusionTrainer with the launch's communicator) and rank 0 prints one RESULT line.
/// Images/s counts the steps after the first (warm-up) and before the last (which includes the final evaluation).
/// </summary>
internal static class DataParallelBench
{
    public static void Run(string[] args)
    {
        int steps = Math.Max(3, BenchSetup.Arg(args, 0, 6)), batch = BenchSetup.Arg(args, 1, 16);
        string? mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
        if (mpirun is null) throw new InvalidOperationException("mpirun is not installed (apt-get install openmpi-bin libopenmpi3)");
        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine("model\tranks\timages/s\tall-reduce ms/step (with waiting for the other rank)\tstep ms\tratio");
        foreach (var model in new[] { "deeplabv3", "unet" })
        {
            double? one = null;
            foreach (int ranks in new[] { 1, 2 })
            {
                var (ips, reduceMs, stepMs) = Worker(mpirun, ranks, model, steps, batch);
                one ??= ips;
                Console.WriteLine($"{model}\t{ranks}\t{ips:0.00}\t{reduceMs:0.0}\t{stepMs:0}\t{ips / one:0.00}×");
            }
        }
        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    private static (double ImagesPerSecond, double AllReduceMs, double StepMs) Worker(string mpirun, int ranks, string model, int steps, int batch)
    {
        string self = typeof(DataParallelBench).Assembly.Location;
        var psi = new ProcessStartInfo(ranks == 1 ? "dotnet" : mpirun) { RedirectStandardOutput = true, UseShellExecute = false };
        if (ranks > 1) foreach (var a in new[] { "-np", ranks.ToString(CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none", "dotnet" }) psi.ArgumentList.Add(a);
        foreach (var a in new[] { self, "dataparallel-worker", model, steps.ToString(CultureInfo.InvariantCulture), batch.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        // mpirun may prefix a terminal control sequence to the line.
        var line = output.Split('\n').Where(l => l.Contains("RESULT ", StringComparison.Ordinal)).Select(l => l[l.IndexOf("RESULT ", StringComparison.Ordinal)..].Trim()).FirstOrDefault()
            ?? throw new InvalidOperationException($"worker ({ranks} ranks, {model}) exited {p.ExitCode} without a result:\n{output}");
        var f = line.Split(' ').Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        return (f[0], f[1], f[2]);
    }

    /// <summary>One rank of the measurement (started by <see cref="Run"/>).</summary>
    public static void RunWorker(string[] args)
    {
        string model = args[0];
        int steps = int.Parse(args[1], CultureInfo.InvariantCulture), batch = int.Parse(args[2], CultureInfo.InvariantCulture);
        Runtime.TorchRuntime.Configure(new Runtime.RuntimeOptions());
        torch.set_num_threads(1);
        using var comm = DistributedLaunch.Connect(torch.CPU);
        string dir = Path.Combine(Path.GetTempPath(), $"tessera-dp-bench-{Environment.ProcessId}");
        // Each rank writes nothing (rank 0 writes the run folder); the folder is per launch of rank 0, removed at the end.
        if (comm.Size > 1)
        {
            var ids = comm.AllGather(Environment.ProcessId);
            dir = Path.Combine(Path.GetTempPath(), $"tessera-dp-bench-{ids[0]}");
        }
        var training = new TrainingOptions { Steps = steps, Batch = batch, CheckpointEvery = 1_000_000, EvalEvery = 0, PreviewAtEnd = false, LearningRate = 1e-3, Seed = 1 };
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        var progress = new Runtime.InlineProgress<TrainingProgress>(_ => times.Add(clock.Elapsed.TotalSeconds));
        TimeSpan reduce;
        if (model == "deeplabv3")
        {
            var trainer = new SegTrainer(new SegTrainOptions { Model = new SegModelConfig { Model = SegModelKind.DeepLabV3 }, Training = training, EvalScenes = 32 }, torch.CPU, comm);
            trainer.Train(dir, resume: false, progress);
            reduce = trainer.AllReduceTime;
        }
        else
        {
            var trainer = new DiffusionTrainer(new DiffusionTrainOptions { Training = training, Limit = 1024 }, torch.CPU, comm);
            trainer.Train(dir, resume: false, progress);
            reduce = trainer.AllReduceTime;
        }
        if (comm.Rank == 0)
        {
            // The last step's progress comes after the final evaluation: steps 2 … n − 1 are timed.
            double perStep = (times[^2] - times[0]) / (times.Count - 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT {batch / perStep} {reduce.TotalMilliseconds / steps} {1000 * perStep}"));
            Directory.Delete(dir, recursive: true);
        }
    }
}
