using Tessera.Segmentation.Metrics;

namespace Tessera.Bench;

/// <summary>
/// Confusion-matrix accumulation on 19-class 2048×1024 label maps (the Cityscapes shape): Tessera's
/// accumulator against libtorch's bincount (same process) and numpy's bincount (Debian's python3-numpy,
/// bench/scripts/segmetrics_numpy.py, same data); then end-to-end `seg eval` throughput with PNG decoding.
/// </summary>
internal static class SegMetricsBench
{
    private const int N = 19, W = 2048, H = 1024, Reps = 20;

    public static void Run(string[] args)
    {
        int threads = Environment.ProcessorCount;
        torch.set_num_threads(threads);
        var (gt, pred) = Maps(1);
        long pixels = gt.Length;

        double Best(Action a)
        {
            a();
            double best = double.MaxValue;
            for (int r = 0; r < Reps; r++) { var sw = Stopwatch.StartNew(); a(); best = Math.Min(best, sw.Elapsed.TotalSeconds); }
            return best;
        }

        var cm = new ConfusionMatrix(N);
        double tessera = Best(() => { cm.Clear(); cm.Add(gt, pred); });
        long checksum = 0;
        for (int k = 0; k < N * N; k++) checksum += cm.Counts[k] * k;
        double single = Best(() => { cm.Clear(); for (int o = 0; o < gt.Length; o += 1 << 20) cm.Add(gt.AsSpan(o, 1 << 20), pred.AsSpan(o, 1 << 20)); });
        // A batch of 8 maps in one call (16 Mpixel): large enough for the two-thread path.
        byte[] gt8 = Enumerable.Range(0, 8).SelectMany(_ => gt).ToArray(), pred8 = Enumerable.Range(0, 8).SelectMany(_ => pred).ToArray();
        double batch8 = Best(() => { cm.Clear(); cm.Add(gt8, pred8); });
        using var g = torch.tensor(gt);
        using var p = torch.tensor(pred);
        long torchChecksum = 0;
        double libtorch = Best(() =>
        {
            using var scope = torch.NewDisposeScope();
            var mask = g.ne(255);
            var idx = g.masked_select(mask).to(torch.ScalarType.Int64).mul(N).add(p.masked_select(mask));
            var counts = torch.bincount(idx, minlength: N * N);
            torchChecksum = counts.mul(torch.arange(N * N)).sum().item<long>();
        });
        Console.WriteLine($"label maps {W}x{H}, {N} classes, 5% ignored, {threads} threads; best of {Reps}");
        Console.WriteLine($"Tessera ConfusionMatrix.Add   {pixels / tessera / 1e9,7:0.000} Gpixel/s");
        Console.WriteLine($"  (1-Mpixel calls: {pixels / single / 1e9:0.000} Gpixel/s; a batch of 8 maps in one call, two threads: {8 * pixels / batch8 / 1e9:0.000} Gpixel/s)");
        Console.WriteLine($"libtorch bincount(N*gt+pred)  {pixels / libtorch / 1e9,7:0.000} Gpixel/s   Tessera/libtorch {libtorch / tessera:0.0}x  (counts agree: {torchChecksum == checksum})");

        string dir = Directory.CreateTempSubdirectory("tessera-segbench-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "gt.u8"), gt);
            File.WriteAllBytes(Path.Combine(dir, "pred.u8"), pred);
            string script = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "scripts", "segmetrics_numpy.py");
            string? numpy = RunPython(script, Path.Combine(dir, "gt.u8"), Path.Combine(dir, "pred.u8"));
            if (numpy is null)
                Console.WriteLine("numpy bincount               (not run: /usr/bin/python3 with numpy not found; apt-get install python3-numpy)");
            else
            {
                string[] parts = numpy.Split(' ');
                double t = double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                Console.WriteLine($"numpy bincount(N*gt+pred)     {pixels / t / 1e9,7:0.000} Gpixel/s   Tessera/numpy {t / tessera:0.0}x  (counts agree: {parts[1].Trim() == checksum.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
            }

            // End to end: 24 pairs of 2048×1024 gray PNGs, decoded and accumulated as `seg eval` does.
            Directory.CreateDirectory(Path.Combine(dir, "g"));
            Directory.CreateDirectory(Path.Combine(dir, "p"));
            for (int i = 0; i < 24; i++)
            {
                var (gi, pi) = Maps(100 + i);
                using var gt3 = torch.tensor(gi).reshape(1, H, W);
                using var pr3 = torch.tensor(pi).reshape(1, H, W);
                ImageIO.SavePng(gt3, Path.Combine(dir, "g", $"{i:000}.png"));
                ImageIO.SavePng(pr3, Path.Combine(dir, "p", $"{i:000}.png"));
            }
            Pairing pairs = FolderEvaluation.Pair(Path.Combine(dir, "g"), Path.Combine(dir, "p"), false);
            FolderEvaluation.Evaluate(pairs.Pairs, new ConfusionOptions(N));
            var sw = Stopwatch.StartNew();
            FolderEvaluation.Evaluate(pairs.Pairs, new ConfusionOptions(N));
            double s = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"seg eval end to end (PNG decode + accumulate): {pairs.Pairs.Count / s:0.0} images/s of {W}x{H}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Blocky ground truth (regions of 64×48 px) with 5% ignored pixels; prediction = truth with 10% of pixels changed.</summary>
    private static (byte[] Gt, byte[] Pred) Maps(int seed)
    {
        var rng = new Random(seed);
        var gt = new byte[W * H];
        var pred = new byte[W * H];
        int[] regionClass = Enumerable.Range(0, 64 * 64).Select(_ => rng.Next(N)).ToArray();
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                int i = y * W + x;
                byte c = (byte)regionClass[(y / 48) * 64 + x / 64];
                gt[i] = rng.Next(20) == 0 ? (byte)255 : c;
                pred[i] = rng.Next(10) == 0 ? (byte)rng.Next(N) : c;
            }
        return (gt, pred);
    }

    private static string? RunPython(string script, string gt, string pred)
    {
        if (!File.Exists("/usr/bin/python3") || !File.Exists(script)) return null;
        var psi = new ProcessStartInfo("/usr/bin/python3", [script, gt, pred, N.ToString(System.Globalization.CultureInfo.InvariantCulture), Reps.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var proc = Process.Start(psi)!;
        string output = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        return proc.ExitCode == 0 ? output.Trim() : null;
    }
}
