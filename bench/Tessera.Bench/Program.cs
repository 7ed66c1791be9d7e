using Tessera.Bench;

// The application's image codec: the benches write and read JPEG (Tessera reads PNG itself).
Tessera.IO.ImageIO.Codec = new Tessera.Imaging.Skia.SkiaImageCodec();

// Benchmarks print ratios against a baseline measured in the same process (see bench/README.md).
var benches = new Dictionary<string, Action<string[]>>(StringComparer.OrdinalIgnoreCase)
{
    ["io"] = IoBench.Run,
    ["segdata"] = SegDataBench.Run,
    ["segmetrics"] = SegMetricsBench.Run,
    ["analytic"] = AnalyticBench.Run,
    ["analytic-tables"] = AnalyticTablesBench.Run,
    ["schedule-study"] = ScheduleStudy.Run,
    ["segspeed"] = SegSpeedBench.Run,
    ["seg512"] = Seg512Bench.Run,
    ["seglayers"] = SegLayersBench.Run,
    ["seginfer"] = SegInferBench.Run,
    ["sam"] = SamBench.Run,
    ["amg"] = AmgBench.Run,
    ["unet"] = UNetBench.Run,
    ["fuzz"] = FuzzBench.Run,
    ["fp32paths"] = Fp32PathsBench.Run,
    ["fp32paths-child"] = Fp32PathsBench.Child,
    ["samops"] = SamOpsBench.Run,
    ["samsoftmax"] = SamSoftmaxBench.Run,
    ["onnx"] = OnnxBench.Run,
    ["sam2video"] = Sam2VideoBench.Run,
    ["dataparallel"] = DataParallelBench.Run,
    ["dataparallel-worker"] = DataParallelBench.RunWorker,
};
if (args.Length == 0 || !benches.TryGetValue(args[0], out var bench))
{
    Console.Error.WriteLine($"usage: Tessera.Bench <{string.Join("|", benches.Keys)}> [options]");
    return 2;
}
var sw = Stopwatch.StartNew();
bench(args[1..]);
// The instruction sets behind the ratios above (they differ between AVX2 and AVX-512 hosts; bench/README.md).
Console.WriteLine($"cpu: {Tessera.Runtime.CpuFeatures.Detect().Summary()}");
Console.WriteLine($"({sw.Elapsed.TotalSeconds:0.0} s)");
return 0;
