using System.Diagnostics;
using System.Globalization;
using Tessera.Layers;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using TorchSharp;

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
        foreach (var (k, v) in ours)
            Console.WriteLine(k.EndsWith("_params", StringComparison.Ordinal)
                ? $"{k,-16} Tessera {v,12:0}   PyTorch {theirs.GetValueOrDefault(k),12:0}   (the same architecture has the same count)"
                : theirs.TryGetValue(k, out double t)
                ? $"{k,-16} Tessera {v,12:0.000}   PyTorch {t,12:0.000}   speed Tessera/PyTorch {t / v:0.00}"
                : $"{k,-16} Tessera {v,12:0.000}   (PyTorch not run: /usr/bin/python3 with torch not found; apt-get install python3-torch)");
    }
}
