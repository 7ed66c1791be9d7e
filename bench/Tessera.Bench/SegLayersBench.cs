using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Tessera.Bench;

/// <summary>
/// The layers of segspeed's DeepLabV3 (small ResNet-18 of width 32, batch 16 of 64×64) timed one by one in both
/// frameworks — forward and backward in training mode with a dense output gradient — then the whole training step and
/// inference: the layer-by-layer comparison that finds where one framework loses (bench/README.md, "the heap change").
/// The PyTorch side is bench/scripts/seg_layers_torch.py, same threads. Median wall and process CPU milliseconds per call.
/// </summary>
internal static class SegLayersBench
{
    public static void Run(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1;
        int reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
        Tessera.Runtime.TorchRuntime.Configure(new Tessera.Runtime.RuntimeOptions { Threads = threads });
        torch.manual_seed(0);
        const int B = 16;
        var ours = new List<(string Name, double Wall, double Cpu)>();
        var process = Process.GetCurrentProcess();
        void Timed(string name, Action f)
        {
            f(); f();
            var walls = new List<double>();
            var cpus = new List<double>();
            for (int i = 0; i < reps; i++)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                f();
                walls.Add(sw.Elapsed.TotalMilliseconds);
                process.Refresh();
                cpus.Add((process.TotalProcessorTime - cpu).TotalMilliseconds);
            }
            ours.Add((name, Median(walls), Median(cpus)));
        }
        void Layer(string name, Module<torch.Tensor, torch.Tensor> m, long[] shape)
        {
            var x = torch.randn(shape).requires_grad_();
            torch.Tensor g;
            using (torch.no_grad()) g = torch.randn_like(m.forward(x));
            Timed(name, () =>
            {
                using var scope = torch.NewDisposeScope();
                m.zero_grad();
                x.grad?.Dispose();
                x.grad = null;
                (m.forward(x) * g).sum().backward();
            });
        }
        Conv2d Conv(int i, int o, int k = 3, int s = 1, int d = 1) => Conv2d(i, o, k, stride: s, padding: d * (k / 2), dilation: d, bias: false);
        Layer("stem-conv3-32s2", Conv(3, 32, s: 2), [B, 3, 64, 64]);
        Layer("conv3-32@32", Conv(32, 32), [B, 32, 32, 32]);
        Layer("conv3-64@16", Conv(64, 64), [B, 64, 16, 16]);
        Layer("conv3-128@8", Conv(128, 128), [B, 128, 8, 8]);
        Layer("conv3-256d2@4", Conv(256, 256, d: 2), [B, 256, 4, 4]);
        Layer("conv1-64s2@32", Conv(32, 64, k: 1, s: 2), [B, 32, 32, 32]);
        Layer("aspp-conv3-256-128d6@4", Conv(256, 128, d: 6), [B, 256, 4, 4]);
        Layer("conv1-640-128@4", Conv(640, 128, k: 1), [B, 640, 4, 4]);
        Layer("classifier-128-11@4", Conv2d(128, 11, 1), [B, 128, 4, 4]);
        Layer("bn-32@32", BatchNorm2d(32), [B, 32, 32, 32]);
        Layer("bn-256@4", BatchNorm2d(256), [B, 256, 4, 4]);
        Layer("relu-32@32", ReLU(), [B, 32, 32, 32]);
        Layer("add-32@32", new Lambda(x => x + x), [B, 32, 32, 32]);
        Layer("upsample-11-4to64", new Lambda(x => functional.interpolate(x, [64, 64], mode: torch.InterpolationMode.Bilinear, align_corners: false)), [B, 11, 4, 4]);
        Layer("avgpool-256@4", AdaptiveAvgPool2d(1), [B, 256, 4, 4]);
        var logits = torch.randn(B, 11, 64, 64).requires_grad_();
        var target = torch.randint(0, 11, [B, 64, 64]);
        Timed("cross-entropy", () =>
        {
            using var scope = torch.NewDisposeScope();
            logits.grad?.Dispose();
            logits.grad = null;
            functional.cross_entropy(logits, target).backward();
        });
        var ps = Enumerable.Range(0, 4).Select(_ => new Parameter(torch.randn(3977899 / 4))).ToArray();
        foreach (var p in ps) p.grad = torch.randn_like(p);
        using (var adam = torch.optim.AdamW(ps, 2e-3, weight_decay: 1e-4))
            Timed("adamw-4M", () => { using var scope = torch.NewDisposeScope(); adam.step(); });

        using var model = (DeepLabV3)new SegModelConfig { Model = SegModelKind.DeepLabV3 }.Build();
        using var opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay: 1e-4);
        var xs = torch.rand(B, 3, 64, 64);
        var ys = torch.randint(0, 11, [B, 64, 64]);
        model.train();
        Timed("deeplabv3-train-step", () =>
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            functional.cross_entropy(model.forward(xs), ys).backward();
            opt.step();
        });
        Timed("deeplabv3-fwd-bwd", () =>
        {
            using var scope = torch.NewDisposeScope();
            model.zero_grad();
            functional.cross_entropy(model.forward(xs), ys).backward();
        });
        Timed("deeplabv3-backbone-fwd-bwd", () =>
        {
            using var scope = torch.NewDisposeScope();
            model.zero_grad();
            (model.Backbone.Features(xs).Layer4 * 1.0).sum().backward();
        });
        model.eval();
        var xi = torch.rand(32, 3, 64, 64);
        using (torch.no_grad())
        {
            Timed("deeplabv3-infer32", () => { using var scope = torch.NewDisposeScope(); model.forward(xi); });
            Timed("deeplabv3-backbone-infer32", () => { using var scope = torch.NewDisposeScope(); model.Backbone.Features(xi); });
        }

        var theirs = PythonBaseline.Run("seg_layers_torch.py", threads.ToString(CultureInfo.InvariantCulture), reps.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"milliseconds per call (median of {reps}), {threads} threads; forward + backward unless named infer; Tessera/PyTorch > 1 means Tessera is slower");
        Console.WriteLine($"{"",-28} {"Tessera",9} {"PyTorch",9} {"ratio",6}   {"cpu T",9} {"cpu P",9} {"ratio",6}");
        foreach (var (name, wall, cpu) in ours)
        {
            double tw = theirs.GetValueOrDefault(name, double.NaN), tc = theirs.GetValueOrDefault(name + "-cpu", double.NaN);
            Console.WriteLine($"{name,-28} {wall,9:0.00} {tw,9:0.00} {wall / tw,6:0.00}   {cpu,9:0.00} {tc,9:0.00} {cpu / tc,6:0.00}");
        }
    }

    private sealed class Lambda(Func<torch.Tensor, torch.Tensor> f) : Module<torch.Tensor, torch.Tensor>("Lambda")
    {
        public override torch.Tensor forward(torch.Tensor x) => f(x);
    }

    private static double Median(List<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
