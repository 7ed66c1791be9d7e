namespace Tessera.Bench;

/// <summary>
/// Training images/s of DeepLabV3-ResNet-50 at 512×512 (output stride 8, ASPP 12/24/36, mmsegmentation's auxiliary
/// FCN head on layer3 with loss weight 0.4, 21 classes; SGD momentum 0.9, weight decay 5e-4) against torchvision's
/// <c>deeplabv3_resnet50</c> (aux_loss) in Debian's PyTorch 1.13 (bench/scripts/seg512_torch.py), same thread count,
/// batch and step count, run from here after Tessera. Both report the median step's images/s and CPU seconds per image.
/// </summary>
internal static class Seg512Bench
{
    public static void Run(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2;
        int batch = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
        int steps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        Tessera.Runtime.TorchRuntime.Configure(new Tessera.Runtime.RuntimeOptions { Threads = threads });
        var ours = new Dictionary<string, double>();
        torch.manual_seed(0);
        var config = new SegModelConfig { Model = SegModelKind.DeepLabV3, Classes = 21, Depth = 50, BaseWidth = 64, SmallStem = false, OutputStride = 8, AuxHead = true, ImageNetInput = true };
        using (var model = (WithAuxiliaryHead)config.Build())
        {
            ours["params"] = model.parameters().Sum(p => p.numel());
            using var opt = torch.optim.SGD(model.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
            var x = torch.randn(batch, 3, 512, 512);
            var y = torch.randint(0, 21, [batch, 512, 512]);
            model.train();
            double Step()
            {
                using var scope = torch.NewDisposeScope();
                var (main, aux) = model.ForwardBoth(x);
                var loss = torch.nn.functional.cross_entropy(main, y, ignore_index: 255) + 0.4 * torch.nn.functional.cross_entropy(aux, y, ignore_index: 255);
                opt.zero_grad();
                loss.backward();
                opt.step();
                return loss.item<float>();
            }
            Step(); // warm-up
            var walls = new List<double>();
            var cpus = new List<double>();
            var process = Process.GetCurrentProcess();
            double loss = 0;
            for (int i = 0; i < steps; i++)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                loss = Step();
                walls.Add(sw.Elapsed.TotalSeconds);
                process.Refresh();
                cpus.Add((process.TotalProcessorTime - cpu).TotalSeconds);
            }
            if (double.IsNaN(loss)) throw new InvalidOperationException("loss is NaN");
            ours["images_per_s"] = batch / Median(walls);
            ours["cpu_s_per_image"] = Median(cpus) / batch;
        }
        // Issue 28: the time per image against FLOPs ÷ the host's large-matrix rate (a training step counted as 3× the forward pass).
        Roofline.Print("DeepLabV3-ResNet-50 training, per 512x512 image (3x forward)", 3 * ModelFlops.DeepLabV3ResNet50(512, 21), 1 / ours["images_per_s"]);
        var theirs = PythonBaseline.Run("seg512_torch.py", threads.ToString(CultureInfo.InvariantCulture), batch.ToString(CultureInfo.InvariantCulture), steps.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"DeepLabV3-ResNet-50 (OS 8, aux head) training at 512x512, batch {batch}, SGD, {threads} threads, median of {steps} steps after one warm-up");
        RatioTable.Print(ours, theirs, ratio: (k, v, t) => RatioTable.RateRatio(k, v, t) + (k == "cpu_s_per_image" ? " (lower is better)" : ""),
            countNote: "(torchvision deeplabv3_resnet50, aux_loss, 21 classes)", notRun: "(PyTorch not run: needs /usr/bin/python3 with python3-torch and python3-torchvision)");
    }

    private static double Median(List<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
