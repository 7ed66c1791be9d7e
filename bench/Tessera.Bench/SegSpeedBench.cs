namespace Tessera.Bench;

/// <summary>
/// Training and inference images/s of GCN-Net (k = 15) and DeepLabV3 (ASPP, OS 16) on 64×64 scenes-sized inputs,
/// small ResNet-18 of width 32, against the same architectures in PyTorch (bench/scripts/seg_speed_torch.py,
/// Debian's python3-torch) at the same thread count, run from here.
/// </summary>
internal static class SegSpeedBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        var ours = new Dictionary<string, double>();
        foreach (var (name, config) in new[] { ("gcn", new SegModelConfig { Model = SegModelKind.Gcn, K = 15 }), ("deeplabv3", new SegModelConfig { Model = SegModelKind.DeepLabV3 }) })
        {
            torch.manual_seed(0);
            using var model = config.Build();
            ours[name + "-params"] = model.parameters().Sum(p => p.numel());
            using var opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay: 1e-4);
            var x = torch.rand(16, 3, 64, 64);
            var y = torch.randint(0, 11, [16, 64, 64]);
            model.train();
            void Step()
            {
                using var scope = torch.NewDisposeScope();
                opt.zero_grad();
                torch.nn.functional.cross_entropy(model.forward(x), y).backward();
                opt.step();
            }
            for (int i = 0; i < 3; i++) Step();
            const int n = 10;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) Step();
            ours[name + "-train"] = 16 * n / sw.Elapsed.TotalSeconds;
            model.eval();
            var xi = torch.rand(32, 3, 64, 64);
            using (torch.no_grad())
            {
                for (int i = 0; i < 2; i++) { using var s0 = torch.NewDisposeScope(); model.forward(xi); }
                sw.Restart();
                for (int i = 0; i < n; i++) { using var s1 = torch.NewDisposeScope(); model.forward(xi); }
            }
            ours[name + "-infer"] = 32 * n / sw.Elapsed.TotalSeconds;
        }
        var theirs = PythonBaseline.Run("seg_speed_torch.py", threads.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"images/s at {threads} threads, batch 16 (train) / 32 (inference), 64x64, 11 classes");
        RatioTable.Print(ours, theirs, valueWidth: 8, format: "0.0");
    }
}
