namespace Tessera.Bench;

/// <summary>
/// Issue 28's limit: the host's large-matrix rate (2048² products, float32 and bfloat16, measured in this process at
/// the bench's thread count) and each model's time as a multiple of its FLOPs ÷ that rate. Every bench that prints a
/// `roofline:` line also prints the `matmul-rate:` and `cpu-model:` lines it was read against.
/// </summary>
internal static class Roofline
{
    private static (double Fp32, double Bf16)? _rates;

    /// <summary>The side of the products measured (TESSERA_ROOFLINE_N overrides; 4096 takes about 8× longer per product).</summary>
    public static int Size => int.TryParse(Environment.GetEnvironmentVariable("TESSERA_ROOFLINE_N"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 64 ? n : 2048;

    /// <summary>The rates in GFLOP/s, measured once per process (after the model timings, so they do not warm anything for them).</summary>
    public static (double Fp32, double Bf16) Rates()
    {
        if (_rates is { } r) return r;
        int n = Size;
        double fp32 = MatmulRate.Measure(n, torch.ScalarType.Float32, 3.0);
        double bf16 = MatmulRate.Measure(n, torch.ScalarType.BFloat16, 3.0);
        _rates = (fp32, bf16);
        Console.WriteLine($"cpu-model: {CpuModel()}");
        Console.WriteLine($"matmul-rate: {n}x{n} products, {torch.get_num_threads()} threads, best of 3 windows: fp32 {fp32:0.0} GFLOP/s ({(Tessera.Runtime.Float32MatmulPrecision.OneDnnFloat32 ? "oneDNN, float32 arithmetic checked" : "libtorch's default, MKL")}), bf16 {bf16:0.0} GFLOP/s ({bf16 / fp32:0.00}x)");
        return _rates.Value;
    }

    /// <summary>Prints one roofline line: FLOPs per call, the time, and the time as a multiple of FLOPs ÷ rate.</summary>
    public static void Print(string what, double flops, double seconds, Precision precision = Precision.Float32)
    {
        var (fp32, bf16) = Rates();
        double rate = precision == Precision.Float32 ? fp32 : bf16;
        double floor = flops / (rate * 1e9);
        Console.WriteLine(FormattableString.Invariant(
            $"roofline: {what}: {flops / 1e9:0.0} GFLOP per call, {seconds:0.000} s = {MatmulRate.RooflineMultiple(seconds, flops, rate):0.00}x the floor {floor:0.000} s (FLOPs / {EnumNames.Name(precision)} rate {rate:0.0} GFLOP/s)"));
    }

    /// <summary>The processor's model name from /proc/cpuinfo ("unknown" elsewhere).</summary>
    public static string CpuModel()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown";
    }
}
