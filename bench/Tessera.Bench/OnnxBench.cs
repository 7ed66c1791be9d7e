using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tessera.Layers;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Bench;

/// <summary>
/// Issue 28's first baseline: ONNX Runtime (Microsoft.ML.OnnxRuntime, its CPU provider, all graph optimisations) on the
/// graphs exported from the official code by bench/scripts/onnx_export.py (into bench-cache/, generated on first use:
/// SAM ViT-B image encoder at 1024², torchvision's DeepLabV3-ResNet-50 inference at 512², the reference DDPM U-Net's
/// forward on 64 × 28²), against Tessera's float32 inference of the same architectures on the same input, same
/// thread count (ONNX Runtime's intra-op threads; inter-op 1, sequential), runs interleaved Tessera, ONNX Runtime,
/// Tessera, …; median wall seconds per call. `onnx [threads] [reps] [sam,samdec,deeplab,unet,sam2t,mobilesam]`. The
/// weights differ (both random): speed does not depend on them — except issue 27's SAM 2.1 Hiera-T and MobileSAM
/// encoders (sam2t, mobilesam), which Tessera loads from the official-format checkpoints the export saved with the
/// graph's weights, so both sides compute one function and their outputs are compared.
/// </summary>
internal static class OnnxBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = BenchSetup.Arg(args, 1, 3);
        var models = (args.Length > 2 ? args[2] : "sam,samdec,deeplab,unet").Split(',', StringSplitOptions.RemoveEmptyEntries);
        // A fourth argument bf16 also times Tessera's encoders (sam, sam2t, mobilesam) converted to bfloat16, in the same
        // interleaved rounds: against ORT's float32 graph, what a user on a CPU with avx512_bf16 would pick.
        bool withBf16 = args.Length > 3 && args[3] == "bf16";
        string cache = Path.GetFullPath("bench-cache");
        var flops = Export(cache, models);
        using var noGrad = torch.no_grad();
        foreach (string name in models)
        {
            string graph = Path.Combine(cache, name + ".onnx");
            if (!File.Exists(graph)) { Console.WriteLine($"{name}: no graph at {graph} (see bench/README.md: onnx)"); continue; }
            torch.manual_seed(0);
            var (ours, inputs, analytic, what, same) = Build(name, cache);
            torch.manual_seed(0);
            Func<torch.Tensor[]>? low = withBf16 ? BuildBf16(name, cache, inputs) : null;
            using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            using var session = new InferenceSession(graph, options);
            var feeds = session.InputMetadata.Keys.Zip(inputs, ToOrt).ToList();
            // The decoder takes milliseconds: each timed call is `inner` calls.
            int inner = name == "samdec" ? 20 : 1;
            void Tessera() { for (int i = 0; i < inner; i++) { using var s = torch.NewDisposeScope(); ours(); } }
            void Ort() { for (int i = 0; i < inner; i++) { using var r = session.Run(feeds); } }
            void Low() { using var s = torch.NewDisposeScope(); low!(); }
            Tessera(); Ort(); // warm-up
            if (low is not null) Low();
            if (same) Agreement(name, ours, session, feeds);
            var tt = new List<double>();
            var to = new List<double>();
            var tl = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                var sw = Stopwatch.StartNew();
                Tessera();
                tt.Add(sw.Elapsed.TotalSeconds / inner);
                sw.Restart();
                Ort();
                to.Add(sw.Elapsed.TotalSeconds / inner);
                if (low is null) continue;
                sw.Restart();
                Low();
                tl.Add(sw.Elapsed.TotalSeconds);
            }
            double a = Median(tt), b = Median(to);
            Console.WriteLine(FormattableString.Invariant(
                $"{what}, {threads} threads, median of {reps} interleaved: Tessera {a:0.000} s, ONNX Runtime {OrtEnv.Instance().GetVersionString()} {b:0.000} s, speed Tessera/ORT {b / a:0.00} (runs: {string.Join(' ', tt.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))} / {string.Join(' ', to.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))}); load {File.ReadAllText("/proc/loadavg").Trim()}"));
            // A process's first calls also grow glibc's heap (fresh pages, which this kind of VM zeroes slowly) until its
            // freed blocks fit its requests (bench/README.md, session 7): the later half of the rounds, apart.
            if (reps >= 10)
            {
                double a2 = Median(tt.Skip(reps / 2).ToList()), b2 = Median(to.Skip(reps / 2).ToList());
                Console.WriteLine(FormattableString.Invariant(
                    $"{what}, {threads} threads, last {reps - reps / 2} of the rounds: Tessera {a2:0.000} s, ONNX Runtime {b2:0.000} s, speed Tessera/ORT {b2 / a2:0.00}"));
            }
            if (low is not null)
                Console.WriteLine(FormattableString.Invariant(
                    $"{what}, {threads} threads, Tessera bf16 in the same rounds: {Median(tl):0.000} s (runs: {string.Join(' ', tl.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))}), speed Tessera bf16/ORT fp32 {b / Median(tl):0.00}, Tessera bf16/fp32 {a / Median(tl):0.00}"));
            // The decoder has no analytic count here (Tessera's folds compute fewer FLOPs than the official order): the
            // official order's dispatch count is its FLOPs.
            if (flops.TryGetValue(name, out double counted) && !double.IsNaN(analytic))
                Console.WriteLine(FormattableString.Invariant($"flops check {name}: analytic {analytic / 1e9:0.000} GFLOP, PyTorch dispatch count {counted / 1e9:0.000} GFLOP (ratio {analytic / counted:0.0000})"));
            if (double.IsNaN(analytic)) analytic = flops.GetValueOrDefault(name, double.NaN);
            if (!double.IsNaN(analytic))
            {
                Roofline.Print(what + ", Tessera fp32", analytic, a);
                Roofline.Print(what + ", ONNX Runtime fp32", analytic, b);
                if (low is not null) Roofline.Print(what + ", Tessera bf16", analytic, Median(tl), Precision.BFloat16);
            }
            // PyTorch on the same official model (Debian's 1.13, or current PyTorch through TESSERA_BENCH_PYTHON), run after.
            var py = PythonBaseline.Run("infer_torch.py", threads.ToString(CultureInfo.InvariantCulture), reps.ToString(CultureInfo.InvariantCulture), cache, name);
            if (py.TryGetValue("fp32_s", out double p32))
            {
                string bf16 = py.TryGetValue("bf16_s", out double p16) ? FormattableString.Invariant($", PyTorch bf16 autocast {p16:0.000} s") : "";
                Console.WriteLine(FormattableString.Invariant($"{what}: PyTorch fp32 {p32:0.000} s (speed Tessera/PyTorch {p32 / a:0.00}){bf16}"));
            }
        }
    }

    // Tessera's outputs against ONNX Runtime's on the same input (the graph's outputs in order): the largest absolute
    // difference of each, against a tolerance of 1e-3 of the output's largest magnitude.
    private static void Agreement(string name, Func<torch.Tensor[]> ours, InferenceSession session, List<NamedOnnxValue> feeds)
    {
        using var scope = torch.NewDisposeScope();
        var mine = ours();
        using var theirs = session.Run(feeds);
        int i = 0;
        foreach (var output in theirs)
        {
            float[] b = [.. output.AsTensor<float>()];
            float[] a = mine[i++].contiguous().data<float>().ToArray();
            double diff = a.Length == b.Length ? a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max() : double.NaN;
            double scale = b.Max(v => Math.Abs((double)v));
            string verdict = diff <= 1e-3 * scale ? "ok" : "DIFFERS";
            Console.WriteLine(FormattableString.Invariant($"agreement {name} {output.Name} [{string.Join('x', mine[i - 1].shape)}]: max |Tessera - ORT| {diff:0.000e+0}, max |ORT| {scale:0.000e+0}: {verdict} (tolerance 1e-3 of max |ORT|)"));
        }
    }

    // Tessera's forward for the named model (its outputs), its inputs (what the graph takes, in order), its analytic FLOPs
    // (NaN: PyTorch's dispatch count is used), a label, and whether the weights are the graph's (outputs comparable).
    private static (Func<torch.Tensor[]> Forward, torch.Tensor[] Inputs, double Flops, string What, bool SameWeights) Build(string name, string cache)
    {
        switch (name)
        {
            case "sam":
                {
                    var model = new SamModel(SamConfig.VitB);
                    model.eval();
                    var x = torch.randn(1, 3, 1024, 1024);
                    return (() => [model.ImageEncoder.forward(x)], [x], ModelFlops.SamEncoder(model.Config), "SAM ViT-B image encoder 1024x1024", false);
                }
            case "samdec":
                {
                    // Prompt encoder + mask decoder for one foreground point, three masks; the embedding channels-last as
                    // SamPredictor keeps it. The graph takes the labels as floats (the official export's convention).
                    var model = new SamModel(SamConfig.VitB);
                    model.eval();
                    var embedding = torch.randn(1, model.Config.PromptDim, model.Config.EmbeddingSize, model.Config.EmbeddingSize);
                    var cl = MemoryFormat.ChannelsLast(embedding);
                    var points = torch.tensor(new float[] { 500, 375 }, [1, 1, 2]);
                    var labels = torch.ones(1, 1, torch.ScalarType.Int64);
                    return (() =>
                    {
                        var (sparse, dense) = model.PromptEncoder.forward(points, labels, null, null);
                        model.MaskDecoder.forward(cl, model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask: true).Dispose();
                        return [];
                    }, [embedding, points, torch.ones(1, 1)], double.NaN, "SAM ViT-B prompt encoder + mask decoder, one point", false);
                }
            case "deeplab":
                {
                    var net = new SegModelConfig { Model = SegModelKind.DeepLabV3, Classes = 21, Depth = 50, BaseWidth = 64, SmallStem = false, OutputStride = 8, AuxHead = false, ImageNetInput = true }.Build();
                    net.eval();
                    var x = torch.randn(1, 3, 512, 512);
                    return (() => [net.forward(x)], [x], ModelFlops.DeepLabV3ResNet50(512, 21, aux: false), "DeepLabV3-ResNet-50 inference 512x512", false);
                }
            case "unet":
                {
                    var net = new UNet(new UNetConfig());
                    net.eval();
                    var x = torch.randn(64, 1, 28, 28);
                    var t = torch.randint(0, 1000, [64]);
                    return (() => [net.forward(x, t)], [x, t], ModelFlops.UNetForward(64), "DDPM U-Net forward, 64 x 28x28", false);
                }
            case "sam2t":
                {
                    // Sam2Predictor.SetImage's encoder pass: the embedding (plus no_mem_embed) and conv_s0/conv_s1's maps.
                    var model = Sam2Model.Load(Path.Combine(cache, "sam2t.pt"));
                    var x = torch.randn(1, 3, 1024, 1024);
                    return (() =>
                    {
                        var f = model.ForwardImage(x);
                        return [f.ImageEmbedding, f.HighRes.S0, f.HighRes.S1];
                    }, [x], double.NaN, "SAM 2.1 Hiera-T image encoder 1024x1024", true);
                }
            case "mobilesam":
                {
                    var model = SamModel.Load(Path.Combine(cache, "mobilesam.pt"));
                    model.eval();
                    var x = torch.randn(1, 3, 1024, 1024);
                    return (() => [model.ImageEncoder.forward(x)], [x], double.NaN, "MobileSAM TinyViT image encoder 1024x1024", true);
                }
            default:
                throw new TesseraUserException("models", $"'{name}' is not a model of this bench; expected sam, samdec, deeplab, unet, sam2t or mobilesam");
        }
    }

    // The encoder of `name` with the same weights converted to bfloat16 as the predictors convert them (EncoderPrecision),
    // on the same input; null for the models without a bfloat16 encoder here.
    private static Func<torch.Tensor[]>? BuildBf16(string name, string cache, torch.Tensor[] inputs)
    {
        var x = inputs[0];
        switch (name)
        {
            case "sam":
                {
                    var model = new SamModel(SamConfig.VitB);
                    model.eval();
                    EncoderPrecision.Apply(model.ImageEncoder, Precision.BFloat16);
                    return () => [model.ImageEncoder.forward(x)];
                }
            case "mobilesam":
                {
                    var model = SamModel.Load(Path.Combine(cache, "mobilesam.pt"));
                    model.eval();
                    EncoderPrecision.Apply(model.ImageEncoder, Precision.BFloat16);
                    return () => [model.ImageEncoder.forward(x)];
                }
            case "sam2t":
                {
                    var model = Sam2Model.Load(Path.Combine(cache, "sam2t.pt"));
                    model.ImageEncoder.ApplyPrecision(Precision.BFloat16);
                    return () =>
                    {
                        var f = model.ForwardImage(x);
                        return [f.ImageEmbedding, f.HighRes.S0, f.HighRes.S1];
                    };
                }
            default:
                return null;
        }
    }

    private static NamedOnnxValue ToOrt(string key, torch.Tensor t)
    {
        int[] shape = [.. t.shape.Select(d => (int)d)];
        return t.dtype == torch.ScalarType.Int64
            ? NamedOnnxValue.CreateFromTensor(key, new DenseTensor<long>(t.contiguous().data<long>().ToArray(), shape))
            : NamedOnnxValue.CreateFromTensor(key, new DenseTensor<float>(t.contiguous().data<float>().ToArray(), shape));
    }

    // Generates the missing graphs with bench/scripts/onnx_export.py (PyTorch's torch.onnx, opset 17) and returns the
    // FLOPs it counted by PyTorch's dispatcher for every model asked for (kept in bench-cache/NAME.flops: when every
    // graph and count is there, no Python runs). The interpreter: ONNX_EXPORT_PYTHON, else TESSERA_BENCH_PYTHON (e.g.
    // "bench/scripts/chroot-python.sh /work/chroot-trixie": PyTorch 2.6 with python3-onnx), else Debian's python3.
    internal static Dictionary<string, double> Export(string cache, string[] models)
    {
        var values = new Dictionary<string, double>();
        if (models.All(m => File.Exists(Path.Combine(cache, m + ".onnx")) && File.Exists(Path.Combine(cache, m + ".flops"))))
        {
            foreach (string m in models)
                if (double.TryParse(File.ReadAllText(Path.Combine(cache, m + ".flops")).Trim(), CultureInfo.InvariantCulture, out double v)) values[m] = v;
            return values;
        }
        string script = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "scripts", "onnx_export.py");
        string[] command = (Environment.GetEnvironmentVariable("ONNX_EXPORT_PYTHON") is { Length: > 0 } e ? e
            : Environment.GetEnvironmentVariable("TESSERA_BENCH_PYTHON") is { Length: > 0 } b ? b : "/usr/bin/python3")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo(command[0], [.. command[1..], Path.GetFullPath(script), cache, .. models]) { RedirectStandardOutput = true };
        Console.WriteLine($"exporting the missing graphs into {cache} with {string.Join(' ', command)} (minutes for SAM)");
        try
        {
            using var p = Process.Start(psi)!;
            foreach (string line in p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = line.Split(' ');
                if (parts.Length == 2 && parts[0].StartsWith("flops_", StringComparison.Ordinal) && double.TryParse(parts[1], CultureInfo.InvariantCulture, out double v))
                    values[parts[0]["flops_".Length..]] = v;
            }
            p.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.WriteLine($"({command[0]} not found: the graphs in {cache} are used as they are)");
        }
        return values;
    }

    /// <summary>The median of <paramref name="v"/>.</summary>
    internal static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
