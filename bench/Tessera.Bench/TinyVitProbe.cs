namespace Tessera.Bench;
internal static class TinyVitProbe
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        if (args.Length > 1 && args[1] == "ops") { Ops(); return; }
        using var model = SamModel.Load(Path.Combine("bench-cache", "mobilesam.pt"));
        model.eval();
        var enc = (TinyVitEncoder)model.ImageEncoder;
        using var _ = torch.no_grad();
        var img = torch.randn(1, 3, 1024, 1024);
        var sum = new Dictionary<string, double>();
        for (int rep = 0; rep < 3; rep++)
        {
            using var scope = torch.NewDisposeScope();
            var sw = Stopwatch.StartNew();
            var t0 = sw.Elapsed.TotalMilliseconds;
            void Mark(string name) { var t = sw.Elapsed.TotalMilliseconds; if (rep > 0) sum[name] = sum.GetValueOrDefault(name) + t - t0; t0 = t; }
            var trace = new List<string>();
            var x = ((torch.nn.Module<torch.Tensor, torch.Tensor>)enc.named_children().First(c => c.name == "patch_embed").module).forward(img);
            Mark("patch_embed");
            for (int i = 0; i < enc.Stages.Count; i++)
            {
                var stage = enc.Stages[i];
                for (int k = 0; k < stage.Blocks.Count; k++) { x = stage.Blocks[k].forward(x); Mark($"layer{i}/block{k} {stage.Blocks[k].GetName()}"); }
                if (stage.Downsample is not null) { x = stage.Downsample.forward(x); Mark($"layer{i}/merge"); }
            }
            var full = enc.forward(img); var tf = sw.Elapsed.TotalMilliseconds; if (rep > 0) sum["(full forward)"] = sum.GetValueOrDefault("(full forward)") + tf - t0;
        }
        foreach (var (k, v) in sum) Console.WriteLine($"{k,-30} {v / 2,9:0.0} ms");
    }

    static void Time(string name, Func<torch.Tensor> f)
    {
        using (var s0 = torch.NewDisposeScope()) f();
        var sw = Stopwatch.StartNew(); int n = 0;
        while (sw.ElapsedMilliseconds < 1500 || n < 2) { using var s = torch.NewDisposeScope(); f(); n++; }
        Console.WriteLine($"{name,-50} {sw.Elapsed.TotalMilliseconds / n,9:0.00} ms");
    }
    static void Ops()
    {
        using var _ = torch.no_grad();
        var x = torch.randn(1, 64, 256, 256);
        var xcl = Tessera.Layers.MemoryFormat.ChannelsLast(x);
        var h = torch.randn(1, 256, 256, 256);
        var hcl = Tessera.Layers.MemoryFormat.ChannelsLast(h);
        var w1 = torch.randn(256, 64, 1, 1); var wd = torch.randn(256, 1, 3, 3); var w3 = torch.randn(64, 256, 1, 1);
        var bn = torch.nn.BatchNorm2d(256); bn.eval();
        Time("conv1x1 64->256 nchw", () => torch.nn.functional.conv2d(x, w1));
        Time("conv1x1 64->256 cl", () => torch.nn.functional.conv2d(xcl, w1));
        Time("dw3x3 256 nchw", () => torch.nn.functional.conv2d(h, wd, padding: [1, 1], groups: 256));
        Time("dw3x3 256 cl", () => torch.nn.functional.conv2d(hcl, wd, padding: [1, 1], groups: 256));
        Time("conv1x1 256->64 nchw", () => torch.nn.functional.conv2d(h, w3));
        Time("conv1x1 256->64 cl", () => torch.nn.functional.conv2d(hcl, w3));
        Time("bn 256 nchw", () => bn.forward(h));
        Time("bn 256 cl", () => bn.forward(hcl));
        Time("gelu 16.7M", () => torch.nn.functional.gelu(h));
        Time("gelu tanh 16.7M", () => torch.nn.functional.gelu(h, TorchSharp.Modules.GELU.Approximate.tanh));
        Time("add_ 16.7M", () => h.add(h));
    }
}
