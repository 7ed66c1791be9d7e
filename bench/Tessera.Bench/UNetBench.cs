namespace Tessera.Bench;

/// <summary>
/// Training steps/s and peak resident memory of the reference DDPM U-Net (ε-prediction, base 32, multipliers 1-2-4,
/// two residual blocks, attention at 7×7, GroupNorm(8), SiLU, time embedding 32 → 128, batch 64 of 28×28×1,
/// Adam 2·10⁻⁴) against the same architecture in PyTorch (bench/scripts/unet_speed_torch.py, Debian's
/// python3-torch) at the same thread count, run from here.
/// </summary>
internal static class UNetBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int steps = BenchSetup.Arg(args, 1, 10);
        torch.manual_seed(0);
        var ours = new Dictionary<string, double>();
        using (var warm = torch.ones(4)) warm.add_(1);
        ours["baseline_rss_mb"] = Process.GetCurrentProcess().WorkingSet64 / 1048576.0;
        using (var net = new UNet(new UNetConfig()))
        {
            ours["params"] = net.parameters().Sum(p => p.numel());
            using var opt = torch.optim.Adam(net.parameters(), 2e-4);
            var abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0);
            var x0 = torch.rand(64, 1, 28, 28) * 2 - 1;
            var g = new torch.Generator(0);
            net.train();
            void Step()
            {
                using var scope = torch.NewDisposeScope();
                var t = torch.randint(0, 1000, [64], generator: g);
                var eps = torch.randn(x0.shape, generator: g);
                var a = abar[t].view(-1, 1, 1, 1);
                var loss = torch.nn.functional.mse_loss(net.forward(a.sqrt() * x0 + (1 - a).sqrt() * eps, t), eps);
                opt.zero_grad();
                loss.backward();
                opt.step();
            }
            for (int i = 0; i < 3; i++) Step();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++) Step();
            ours["steps_per_s"] = steps / sw.Elapsed.TotalSeconds;
        }
        ours["peak_rss_mb"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        // Issue 28: the step's time against FLOPs ÷ the host's large-matrix rate (a training step counted as 3× the forward pass).
        Roofline.Print("U-Net training step, batch 64 (3x forward)", 3 * ModelFlops.UNetForward(64), 1 / ours["steps_per_s"]);
        var theirs = PythonBaseline.Run("unet_speed_torch.py", threads.ToString(CultureInfo.InvariantCulture), steps.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"reference DDPM U-Net, batch 64 of 28x28x1, Adam, {threads} threads, {steps} timed steps after 3 warm-up steps");
        RatioTable.Print(ours, theirs, keyWidth: 14);
    }
}
