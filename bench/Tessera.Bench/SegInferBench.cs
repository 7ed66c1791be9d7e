namespace Tessera.Bench;

/// <summary>
/// segspeed's DeepLabV3 inference (batch 32, 64×64) two ways, interleaved in one process: the BatchNorms run as modules
/// on NCHW tensors (the path before BatchNorm folding and channels-last: evaluation mode with gradients enabled and no
/// parameter requiring them), and the library's inference path (gradients off: BatchNorm folded into the convolutions,
/// channels-last activations). Median wall and process CPU milliseconds per batch.
/// </summary>
internal static class SegInferBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 15;
        torch.manual_seed(0);
        using var model = new SegModelConfig { Model = SegModelKind.DeepLabV3 }.Build();
        foreach (var p in model.parameters()) p.requires_grad_(false);
        model.eval();
        var x = torch.rand(32, 3, 64, 64);
        var variants = new (string Name, Action Run)[]
        {
            ("modules, NCHW (before)", () => { using var g = torch.enable_grad(); using var s = torch.NewDisposeScope(); model.forward(x); }),
            ("library path", () => { using var g = torch.no_grad(); using var s = torch.NewDisposeScope(); model.forward(x); }),
        };
        var walls = variants.Select(_ => new List<double>()).ToArray();
        var cpus = variants.Select(_ => new List<double>()).ToArray();
        var process = Process.GetCurrentProcess();
        foreach (var v in variants) { v.Run(); v.Run(); }
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < variants.Length; i++)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                variants[i].Run();
                walls[i].Add(sw.Elapsed.TotalMilliseconds);
                process.Refresh();
                cpus[i].Add((process.TotalProcessorTime - cpu).TotalMilliseconds);
            }
        Console.WriteLine($"DeepLabV3 (ResNet-18 width 32) inference, batch 32, 64x64, {threads} threads, median of {reps} interleaved rounds");
        for (int i = 0; i < variants.Length; i++)
            Console.WriteLine($"{variants[i].Name,-24} wall {Median(walls[i]),8:0.00} ms   cpu {Median(cpus[i]),8:0.00} ms   speed-up {Median(walls[0]) / Median(walls[i]),5:0.00}x");
    }

    private static double Median(List<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
