namespace Tessera.Tests;

public class CpuFeaturesTests
{
    // /proc/cpuinfo excerpts written by hand from the three kinds of host (only the lines the parser reads matter).
    private const string Zen2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\n" +
        "flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand bmi1 avx2 smep bmi2 sha_ni\n\n" +
        "processor\t: 1\nflags\t\t: fpu avx512f\n";
    private const string Zen4 = "processor\t: 0\nflags\t\t: fpu sse4_1 sse4_2 avx fma avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx_vnni avx512_bf16 avx512vbmi avx512_vnni\n";
    private const string SapphireRapids = "flags\t\t: sse4_1 avx fma avx2 avx_vnni avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n";

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Flags_come_from_the_first_processor_in_a_fixed_order()
    {
        var zen2 = CpuFeatures.From(Zen2, Env(), null, null);
        Assert.Equal(["avx2", "fma"], zen2.HostFlags);
        var zen4 = CpuFeatures.From(Zen4, Env(), null, null);
        Assert.Equal(["avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"], zen4.HostFlags);
        Assert.Empty(CpuFeatures.ParseFlags("processor\t: 0\nmodel name\t: no flags line\n"));
    }

    [Theory]
    [InlineData(Zen2, null, "avx2")]
    [InlineData(Zen4, null, "avx512_core_bf16")]
    [InlineData(SapphireRapids, null, "avx512_core_amx")]
    [InlineData(Zen4, "AVX2", "avx2")]
    [InlineData(Zen4, "avx512_core", "avx512_core")]
    [InlineData(Zen4, "ALL", "avx512_core_bf16")]
    [InlineData(Zen2, "AVX512_CORE", "avx2")]
    [InlineData(SapphireRapids, "AVX10_1_512", "avx512_core_fp16")]
    [InlineData(Zen4, "AVX2_VNNI", "avx2_vnni")]
    [InlineData(Zen2, "AVX2_VNNI", "avx2")]
    [InlineData(Zen4, "AVX3", "avx512_core_bf16 (cap 'AVX3' unknown?)")]
    public void The_onednn_isa_is_the_best_the_host_has_under_the_cap(string cpuinfo, string? cap, string expected) =>
        Assert.Equal(expected, CpuFeatures.OneDnnIsaFor(CpuFeatures.ParseFlags(cpuinfo), cap));

    [Fact]
    public void Overrides_are_reported_with_their_variables()
    {
        // An excerpt of libtorch 2.10's at::show_config() text.
        const string config = "PyTorch built with:\n  - GCC 11.2\n  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications\n" +
            "  - Intel(R) MKL-DNN v3.7.1 (Git Hash 8d263e693366ef8db40acc569cc7d8edf644556d)\n  - CPU capability usage: AVX512\n" +
            "  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, CXX_COMPILER=/opt/rh/gcc-toolset-11/root/usr/bin/c++\n";
        var f = CpuFeatures.From(Zen4, Env(("ATEN_CPU_CAPABILITY", "avx2"), ("DNNL_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2")), "AVX2", config);
        Assert.Equal("host avx2 fma avx_vnni avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16; ATen AVX2 (ATEN_CPU_CAPABILITY=avx2); " +
            "oneDNN v3.7.1 avx2 (DNNL_MAX_CPU_ISA=AVX2); BLAS mkl (MKL_ENABLE_INSTRUCTIONS=AVX2)", f.Summary());
        // oneDNN reads ONEDNN_MAX_CPU_ISA before DNNL_MAX_CPU_ISA; empty variables count as unset.
        var g = CpuFeatures.From(Zen4, Env(("ONEDNN_MAX_CPU_ISA", "AVX512_CORE"), ("DNNL_MAX_CPU_ISA", "AVX2"), ("ATEN_CPU_CAPABILITY", "")), null, null);
        Assert.Equal("avx512_core", g.OneDnnIsa);
        Assert.Equal("ONEDNN_MAX_CPU_ISA=AVX512_CORE", g.OneDnnCap);
        Assert.Null(g.AtenOverride);
        Assert.Equal("host avx2 fma avx_vnni avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16; ATen unknown; oneDNN avx512_core (ONEDNN_MAX_CPU_ISA=AVX512_CORE); BLAS unknown", g.Summary());
    }

    [Fact]
    public void Libtorch_reports_its_capability_and_build()
    {
        var f = CpuFeatures.Detect();
        Assert.Contains(f.AtenCapability, new[] { "DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON", "SVE256" });
        Assert.Equal("mkl", f.Blas); // TorchSharp's libtorch-cpu-linux-x64 2.10 is built with MKL
        Assert.StartsWith("v3.", f.OneDnnVersion);
    }

    [Fact]
    public void Info_reports_the_aten_override_that_libtorch_honours()
    {
        // libtorch reads ATEN_CPU_CAPABILITY when it first dispatches; a child process starts with it set.
        var (code, output) = SchedulerChild.Run(new Dictionary<string, string> { ["ATEN_CPU_CAPABILITY"] = "default", ["DNNL_MAX_CPU_ISA"] = "AVX" }, "info");
        Assert.True(code == 0, output);
        Assert.Matches(@"ATen CPU capability\s+│?\s*DEFAULT \(ATEN_CPU_CAPABILITY=default\)", output);
        Assert.Contains("(DNNL_MAX_CPU_ISA=AVX)", output);
    }
}
