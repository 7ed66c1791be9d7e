using Tessera.Layers;

namespace Tessera.Bench;

/// <summary>
/// SAM ViT-B on the CPU: image-encoder latency on a 1024×1024 input and prompt-encoder + mask-decoder latency per
/// single-point prompt (three masks), random weights, float32, against the same architecture in PyTorch
/// (bench/scripts/sam_speed_torch.py, Debian's python3-torch) at the same thread count, run from here.
/// </summary>
internal static class SamBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = BenchSetup.Arg(args, 1, 2);
        // Issue 28: a third argument bf16 or fp16 also times the encoder at that precision, interleaved with float32.
        var precision = BenchSetup.PrecisionAt(args, 2);
        torch.manual_seed(0);
        var ours = new Dictionary<string, double>();
        using (var model = new SamModel(SamConfig.VitB))
        {
            model.eval();
            ours["encoder_params"] = model.ImageEncoder.parameters().Sum(p => p.numel());
            ours["decoder_params"] = model.PromptEncoder.parameters().Sum(p => p.numel()) + model.MaskDecoder.parameters().Sum(p => p.numel());
            using var _ = torch.no_grad();
            var x = torch.randn(1, 3, 1024, 1024);
            torch.Tensor embedding;
            var sw = Stopwatch.StartNew();
            if (reps > 0)
            {
                using (var s0 = torch.NewDisposeScope()) model.ImageEncoder.forward(x);
                var encoderCpu = Process.GetCurrentProcess().TotalProcessorTime;
                sw.Restart();
                embedding = model.ImageEncoder.forward(x);
                for (int i = 1; i < reps; i++) { embedding.Dispose(); embedding = model.ImageEncoder.forward(x); }
                ours["encoder_s"] = sw.Elapsed.TotalSeconds / reps;
                ours["encoder_cpu_s"] = (Process.GetCurrentProcess().TotalProcessorTime - encoderCpu).TotalSeconds / reps;
                Roofline.Print("SAM ViT-B image encoder, 1024x1024, fp32", ModelFlops.SamEncoder(model.Config), ours["encoder_s"]);
                if (precision != Precision.Float32) LowerPrecision(model, x, reps, precision);
            }
            else embedding = torch.randn(1, model.Config.PromptDim, model.Config.EmbeddingSize, model.Config.EmbeddingSize); // reps 0: the decoder alone
            // Channels-last, as SamPredictor keeps its features (once per image; the official predictor keeps NCHW).
            using (var e = embedding) embedding = MemoryFormat.ChannelsLast(e);
            var points = torch.tensor(new float[] { 500, 375 }, [1, 1, 2]);
            var labels = torch.ones(1, 1, torch.ScalarType.Int64);
            void Decode()
            {
                using var scope = torch.NewDisposeScope();
                var (sparse, dense) = model.PromptEncoder.forward(points, labels, null, null);
                using var pred = model.MaskDecoder.forward(embedding, model.PromptEncoder.DensePositionalEncoding(), sparse, dense, multimask: true);
            }
            for (int i = 0; i < 3; i++) Decode();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            sw.Restart();
            for (int i = 0; i < 20; i++) Decode();
            ours["decoder_ms"] = sw.Elapsed.TotalMilliseconds / 20;
            // CPU time of the process: steadier than wall time on a shared machine (at 1 thread it is the work done).
            ours["decoder_cpu_ms"] = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / 20;
        }
        var theirs = PythonBaseline.Run("sam_speed_torch.py", threads.ToString(CultureInfo.InvariantCulture), reps.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"SAM ViT-B, float32, CPU, {threads} threads; encoder on 1024x1024 (mean of {reps}), decoder per one-point prompt (mean of 20)");
        // Times (lower is better): the speed ratio is PyTorch's time over ours.
        RatioTable.Print(ours, theirs, ratio: (_, v, t) => $"speed Tessera/PyTorch {t / v:0.00}");
    }

    // The encoder at a lower precision (the same random weights, converted as SamPredictor converts them), timed
    // interleaved with the float32 one, and its embedding's relative L2 distance from float32's.
    private static void LowerPrecision(SamModel model, torch.Tensor x, int reps, Precision precision)
    {
        torch.manual_seed(0);
        using var low = new SamModel(SamConfig.VitB);
        low.eval();
        EncoderPrecision.Apply(low.ImageEncoder, precision);
        using (var warm = torch.NewDisposeScope()) low.ImageEncoder.forward(x);
        double full = 0, lower = 0, relL2 = 0;
        for (int i = 0; i < reps; i++)
        {
            using var scope = torch.NewDisposeScope();
            var sw = Stopwatch.StartNew();
            var e32 = model.ImageEncoder.forward(x);
            full += sw.Elapsed.TotalSeconds;
            sw.Restart();
            var e16 = low.ImageEncoder.forward(x);
            lower += sw.Elapsed.TotalSeconds;
            relL2 = (e16 - e32).norm().item<float>() / e32.norm().item<float>();
        }
        string name = EnumNames.Name(precision);
        Console.WriteLine(FormattableString.Invariant($"encoder {name} vs fp32, interleaved, mean of {reps}: {lower / reps:0.000} s vs {full / reps:0.000} s ({full / lower:0.00}x); embedding relative L2 {relL2:0.000e0}"));
        Roofline.Print($"SAM ViT-B image encoder, 1024x1024, {name}", ModelFlops.SamEncoder(model.Config), lower / reps, precision);
    }
}
