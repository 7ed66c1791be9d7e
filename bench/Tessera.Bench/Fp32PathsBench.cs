namespace Tessera.Bench;

/// <summary>
/// Issue 28: what libtorch (TorchSharp 0.107's libtorch 2.10, MKL for float32 products) can be told to multiply float32
/// faster. Each setting runs in a child process of this bench (environment variables are read when the libraries
/// load), the settings interleaved for `rounds` rounds; each child measures a 2048² product (float32 and bfloat16), the
/// ViT-B encoder's MLP product (4096×768 by 768×3072, as a linear layer) and a 3×3 convolution (256 → 256 channels
/// on 4×64², oneDNN), in GFLOP/s, best of three windows. `fp32paths [threads] [rounds]`.
/// </summary>
internal static class Fp32PathsBench
{
    private static readonly (string Name, string[] Env, string Setting)[] Variants =
    [
        ("default (MKL, highest)", [], "none"),
        ("MKL_ENABLE_INSTRUCTIONS=AVX512", ["MKL_ENABLE_INSTRUCTIONS=AVX512"], "none"),
        ("MKL_DEBUG_CPU_TYPE=5", ["MKL_DEBUG_CPU_TYPE=5"], "none"),
        ("MKL_CBWR=AVX512", ["MKL_CBWR=AVX512"], "none"),
        ("LD_PRELOAD mkl_serv_intel_cpu_true=1", ["LD_PRELOAD=FAKEINTEL"], "none"),
        ("ONEDNN_DEFAULT_FPMATH_MODE=BF16", ["ONEDNN_DEFAULT_FPMATH_MODE=BF16"], "none"),
        ("float32 matmul precision medium", [], "medium"),
        ("float32 matmul precision high", [], "high"),
        ("oneDNN off (TESSERA_ONEDNN=0)", ["TESSERA_ONEDNN=0"], "none"),
    ];

    public static void Run(string[] args)
    {
        int threads = BenchSetup.Arg(args, 0, Environment.ProcessorCount);
        int rounds = BenchSetup.Arg(args, 1, 2);
        string? fakeIntel = BuildFakeIntel();
        var results = Variants.Select(_ => new List<Dictionary<string, double>>()).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < Variants.Length; i++)
            {
                if (Variants[i].Env.Any(e => e.Contains("FAKEINTEL", StringComparison.Ordinal)) && fakeIntel is null) continue;
                results[i].Add(Child(threads, Variants[i].Env.Select(e => e.Replace("FAKEINTEL", fakeIntel, StringComparison.Ordinal)), Variants[i].Setting));
            }
        Console.WriteLine($"float32 paths in libtorch {TorchRuntime.LibTorchVersion}, {threads} threads, GFLOP/s (best of 3 windows per child; min-max over {rounds} interleaved rounds); load {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"{"setting",-40} {"fp32 2048²",16} {"bf16 2048²",16} {"MLP 4096x768x3072",18} {"conv3x3 256ch 64²",18}");
        for (int i = 0; i < Variants.Length; i++)
        {
            if (results[i].Count == 0) { Console.WriteLine($"{Variants[i].Name,-40} (not run: needs gcc to build the shim)"); continue; }
            string Cell(string key)
            {
                var v = results[i].Select(d => d.GetValueOrDefault(key)).ToArray();
                return FormattableString.Invariant($"{v.Min(),7:0.0}-{v.Max(),-7:0.0}");
            }
            Console.WriteLine($"{Variants[i].Name,-40} {Cell("mm32"),16} {Cell("mm16"),16} {Cell("mlp32"),18} {Cell("conv32"),18}");
        }
        Console.WriteLine("cpu-model: " + Roofline.CpuModel());
    }

    /// <summary>The child's side: applies the setting and prints `key GFLOP/s` lines.</summary>
    public static void Child(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        string setting = args.Length > 1 ? args[1] : "none";
        if (setting != "none" && !Tessera.Runtime.Float32MatmulPrecision.Set(setting)) Console.WriteLine("setting-unreachable 1");
        using var noGrad = torch.no_grad();
        Console.WriteLine(FormattableString.Invariant($"mm32 {MatmulRate.Measure(2048, torch.ScalarType.Float32, 1.5):0.0}"));
        Console.WriteLine(FormattableString.Invariant($"mm16 {MatmulRate.Measure(2048, torch.ScalarType.BFloat16, 1.5):0.0}"));
        using (var scope = torch.NewDisposeScope())
        {
            var x = torch.randn(4096, 768);
            var w = torch.randn(3072, 768);
            Console.WriteLine(FormattableString.Invariant($"mlp32 {Rate(() => torch.nn.functional.linear(x, w).Dispose(), 2.0 * 4096 * 768 * 3072):0.0}"));
            var img = torch.randn(4, 256, 64, 64);
            var k = torch.randn(256, 256, 3, 3);
            Console.WriteLine(FormattableString.Invariant($"conv32 {Rate(() => torch.nn.functional.conv2d(img, k, padding: [1, 1]).Dispose(), 2.0 * 4 * 64 * 64 * 256 * 256 * 9):0.0}"));
        }
        _ = threads;
    }

    private static double Rate(Action call, double flops)
    {
        call();
        double best = 0;
        for (int w = 0; w < 3; w++)
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            while (n < 2 || sw.Elapsed.TotalSeconds < 0.5) { call(); n++; }
            best = Math.Max(best, flops * n / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private static Dictionary<string, double> Child(int threads, IEnumerable<string> env, string setting)
    {
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Fp32PathsBench).Assembly.Location);
        foreach (string a in new[] { "fp32paths-child", threads.ToString(CultureInfo.InvariantCulture), setting }) psi.ArgumentList.Add(a);
        foreach (string e in env) psi.Environment[e[..e.IndexOf('=')]] = e[(e.IndexOf('=') + 1)..];
        using var p = Process.Start(psi)!;
        var values = new Dictionary<string, double>();
        foreach (string line in p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ');
            if (parts.Length == 2 && double.TryParse(parts[1], CultureInfo.InvariantCulture, out double v)) values[parts[0]] = v;
        }
        p.WaitForExit();
        return values;
    }

    // A shared object whose mkl_serv_intel_cpu_true returns 1, preloaded so that MKL (linked into libtorch_cpu.so,
    // which exports the symbol) takes its Intel code paths on other vendors' CPUs; built into bench-cache/ with gcc.
    private static string? BuildFakeIntel()
    {
        string dir = Path.GetFullPath("bench-cache");
        string so = Path.Combine(dir, "fakeintel.so");
        if (File.Exists(so)) return so;
        try
        {
            Directory.CreateDirectory(dir);
            string c = Path.Combine(dir, "fakeintel.c");
            File.WriteAllText(c, "int mkl_serv_intel_cpu_true(void) { return 1; }\n");
            using var p = Process.Start(new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O2", "-o", so, c]))!;
            p.WaitForExit();
            return p.ExitCode == 0 ? so : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
