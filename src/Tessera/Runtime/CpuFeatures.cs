namespace Tessera.Runtime;

/// <summary>
/// Which CPU features libtorch's kernels use in this process: the host's relevant instruction-set flags (from
/// /proc/cpuinfo), the ATen CPU capability libtorch dispatches its own kernels to (libtorch's
/// <c>at::get_cpu_capability</c>, which honours <c>ATEN_CPU_CAPABILITY</c>), the instruction set oneDNN's
/// convolutions use (the host's best, capped by <c>ONEDNN_MAX_CPU_ISA</c> or <c>DNNL_MAX_CPU_ISA</c> as oneDNN caps it),
/// and the BLAS (libtorch's build configuration; MKL honours <c>MKL_ENABLE_INSTRUCTIONS</c>). Speed ratios against
/// another framework mean little without this line: the same model runs at different ratios on AVX2 and AVX-512 hosts.
/// </summary>
internal sealed partial record CpuFeatures
{
    /// <summary>The flags reported, in this order, when the host has them.</summary>
    public static readonly string[] RelevantFlags =
        ["avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"];

    /// <summary>oneDNN's CPU instruction sets from least to most capable (the values its ISA cap accepts, lower case).</summary>
    public static readonly string[] OneDnnIsas =
        ["sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_fp16", "avx512_core_amx"];

    /// <summary>The relevant flags the host has, in <see cref="RelevantFlags"/> order (empty when /proc/cpuinfo is unreadable).</summary>
    public required IReadOnlyList<string> HostFlags { get; init; }

    /// <summary>The capability ATen's kernels dispatch to (DEFAULT, AVX2, AVX512, …), or null when libtorch could not be asked.</summary>
    public string? AtenCapability { get; init; }

    /// <summary>The value of <c>ATEN_CPU_CAPABILITY</c>, when set.</summary>
    public string? AtenOverride { get; init; }

    /// <summary>The instruction set oneDNN selects: the best one the host supports, no higher than <see cref="OneDnnCap"/>.</summary>
    public required string OneDnnIsa { get; init; }

    /// <summary>The oneDNN cap as <c>NAME=value</c> (<c>ONEDNN_MAX_CPU_ISA</c> wins over <c>DNNL_MAX_CPU_ISA</c>, as in oneDNN), when set.</summary>
    public string? OneDnnCap { get; init; }

    /// <summary>oneDNN's version from libtorch's build configuration, when known.</summary>
    public string? OneDnnVersion { get; init; }

    /// <summary>The BLAS libtorch was built with (<c>BLAS_INFO</c>: mkl, open, generic, …), when known.</summary>
    public string? Blas { get; init; }

    /// <summary>The value of <c>MKL_ENABLE_INSTRUCTIONS</c>, when set.</summary>
    public string? MklCap { get; init; }

    /// <summary>The host's relevant flags, space-separated ("unknown" when none were read).</summary>
    public string HostText => HostFlags.Count == 0 ? "unknown" : string.Join(' ', HostFlags);

    /// <summary>The ATen capability, with its override when set.</summary>
    public string AtenText => (AtenCapability ?? "unknown") + (AtenOverride is null ? "" : $" (ATEN_CPU_CAPABILITY={AtenOverride})");

    /// <summary>oneDNN's version and instruction set, with its cap when set.</summary>
    public string OneDnnText => (OneDnnVersion is null ? "" : OneDnnVersion + " ") + OneDnnIsa + (OneDnnCap is null ? "" : $" ({OneDnnCap})");

    /// <summary>The BLAS, with MKL's instruction cap when set.</summary>
    public string BlasText => (Blas ?? "unknown") + (MklCap is null ? "" : $" (MKL_ENABLE_INSTRUCTIONS={MklCap})");

    /// <summary>One line: host flags, ATen capability, oneDNN instruction set, BLAS, each with the override that set it.</summary>
    public string Summary() => $"host {HostText}; ATen {AtenText}; oneDNN {OneDnnText}; BLAS {BlasText}";

    /// <summary>The features of this process: reads /proc/cpuinfo and the environment, and asks libtorch (loading it).</summary>
    public static CpuFeatures Detect()
    {
        string cpuinfo = "";
        try { if (File.Exists("/proc/cpuinfo")) cpuinfo = File.ReadAllText("/proc/cpuinfo"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return From(cpuinfo, Environment.GetEnvironmentVariable, LibTorchString(GetCpuCapability), LibTorchString(ShowConfig));
    }

    /// <summary>
    /// The features from their sources: the text of /proc/cpuinfo, an environment lookup, libtorch's capability
    /// string and its build configuration text (<c>at::show_config</c>); either of the last two may be null.
    /// </summary>
    public static CpuFeatures From(string cpuinfo, Func<string, string?> environment, string? atenCapability, string? buildConfig)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        ArgumentNullException.ThrowIfNull(environment);
        var flags = ParseFlags(cpuinfo);
        string? Env(string name) => environment(name) is { Length: > 0 } v ? v : null;
        string? cap = Env("ONEDNN_MAX_CPU_ISA") is string o ? "ONEDNN_MAX_CPU_ISA=" + o : Env("DNNL_MAX_CPU_ISA") is string d ? "DNNL_MAX_CPU_ISA=" + d : null;
        return new CpuFeatures
        {
            HostFlags = RelevantFlags.Where(flags.Contains).ToArray(),
            AtenCapability = atenCapability?.Trim(),
            AtenOverride = Env("ATEN_CPU_CAPABILITY"),
            OneDnnIsa = OneDnnIsaFor(flags, cap?[(cap.IndexOf('=') + 1)..]),
            OneDnnCap = cap,
            OneDnnVersion = buildConfig is null ? null : ConfigValue(buildConfig, "MKL-DNN ", ' ', '\n'),
            Blas = buildConfig is null ? null : ConfigValue(buildConfig, "BLAS_INFO=", ',', '\n'),
            MklCap = Env("MKL_ENABLE_INSTRUCTIONS"),
        };
    }

    /// <summary>The flags of the first processor in a /proc/cpuinfo text (its <c>flags</c> line), lower case.</summary>
    public static IReadOnlySet<string> ParseFlags(string cpuinfo)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        foreach (string line in cpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0 || line[..colon].Trim() != "flags") continue;
            return line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(f => f.ToLowerInvariant()).ToHashSet();
        }
        return new HashSet<string>();
    }

    /// <summary>
    /// The instruction set oneDNN's CPU engine selects for a host with these flags under a cap (a value of
    /// <c>ONEDNN_MAX_CPU_ISA</c>, case-insensitive; null, ALL or DEFAULT for none): the most capable of
    /// <see cref="OneDnnIsas"/> the host supports and the cap allows. An unknown cap is returned as "CAP?" appended.
    /// </summary>
    public static string OneDnnIsaFor(IReadOnlySet<string> flags, string? cap)
    {
        ArgumentNullException.ThrowIfNull(flags);
        bool Has(params string[] f) => f.All(flags.Contains);
        bool avx512Core = Has("avx512f", "avx512bw", "avx512vl", "avx512dq");
        bool[] supported =
        [
            Has("sse4_1"), Has("avx"), Has("avx2"), Has("avx2", "avx_vnni"), avx512Core, avx512Core && Has("avx512_vnni"),
            avx512Core && Has("avx512_vnni", "avx512_bf16"), avx512Core && Has("avx512_vnni", "avx512_bf16", "avx512_fp16"),
            avx512Core && Has("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"),
        ];
        int limit = OneDnnIsas.Length - 1;
        string? unknown = null;
        if (cap is not null && !cap.Equals("all", StringComparison.OrdinalIgnoreCase) && !cap.Equals("default", StringComparison.OrdinalIgnoreCase))
        {
            limit = Array.IndexOf(OneDnnIsas, cap.ToLowerInvariant() switch { "avx10_1_512" => "avx512_core_fp16", "avx10_1_512_amx" => "avx512_core_amx", var c => c });
            if (limit < 0) { unknown = cap; limit = OneDnnIsas.Length - 1; }
        }
        // avx2_vnni is not below avx512_core in oneDNN's hierarchy: an AVX-512 host capped at AVX2_VNNI still gets it.
        for (int i = limit; i >= 0; i--)
            if (supported[i]) return OneDnnIsas[i] + (unknown is null ? "" : $" (cap '{unknown}' unknown?)");
        return "none" + (unknown is null ? "" : $" (cap '{unknown}' unknown?)");
    }

    private static string? ConfigValue(string config, string key, params char[] ends)
    {
        int at = config.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) return null;
        int start = at + key.Length, end = config.IndexOfAny(ends, start);
        string value = (end < 0 ? config[start..] : config[start..end]).Trim();
        return value.Length == 0 ? null : value;
    }

    // at::get_cpu_capability() and at::show_config() return a std::string (libstdc++'s: pointer, length, 16-byte
    // buffer), returned through a hidden first argument in the x86-64 System V convention.
    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at18get_cpu_capabilityB5cxx11Ev")]
    private static partial IntPtr GetCpuCapability(IntPtr result);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at11show_configB5cxx11Ev")]
    private static partial IntPtr ShowConfig(IntPtr result);

    [LibraryImport("libstdc++.so.6", EntryPoint = "_ZdlPv")]
    private static partial void OperatorDelete(IntPtr pointer);

    private static string? LibTorchString(Func<IntPtr, IntPtr> call)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        _ = TorchSharp.torch.get_num_threads(); // loads libtorch
        IntPtr s = Marshal.AllocHGlobal(32);
        try
        {
            call(s);
            IntPtr data = Marshal.ReadIntPtr(s);
            long length = Marshal.ReadInt64(s, 8);
            string text = Marshal.PtrToStringUTF8(data, checked((int)length));
            if (data != s + 16) OperatorDelete(data);
            return text;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            Marshal.FreeHGlobal(s);
        }
    }
}
