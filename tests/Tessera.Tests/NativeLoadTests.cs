using System.Runtime.InteropServices;
using Tessera.Build;
using static TorchSharp.torch;

namespace Tessera.Tests;

public class NativeLoadTests
{
    private const string Version = "GLIBCXX_3.4.32";

    [Fact]
    public void Libtorch_initialises_and_computes_a_dilated_convolution_worked_out_by_hand()
    {
        // x[r, c] = 7r + c on a 7×7 grid; a 3×3 kernel of ones with dilation 2 sums
        // x[i + 2a, j + 2b] over a, b ∈ {0, 1, 2}: 9(7i + j) + 7·2·3·3 + 2·3·3 = 63i + 9j + 144.
        using var x = arange(49, dtype: ScalarType.Float32).reshape(1, 1, 7, 7);
        using var w = ones(1, 1, 3, 3);
        using var y = nn.functional.conv2d(x, w, dilation: [2, 2]);
        Assert.Equal(new long[] { 1, 1, 3, 3 }, y.shape);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(63 * i + 9 * j + 144, y[0, 0, i, j].item<float>());
    }

    private static string? OutputLibrary()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }

    private static string? PackageLibrary()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(root, "torchsharp", TorchSharpPackageVersion, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The TorchSharp package version this build references, read from the loaded assembly (0.107.0, not 0.107.0.0).</summary>
    internal static string TorchSharpPackageVersion
    {
        get
        {
            var asm = typeof(torch).Assembly;
            string? info = asm.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion;
            if (info is not null) return info.Split('+')[0];
            var v = asm.GetName().Version!;
            return $"{v.Major}.{v.Minor}.{v.Build}";
        }
    }

    [Fact]
    public void The_package_version_is_read_from_the_assembly_and_names_a_package_folder_shape()
    {
        // The Info verb reports the same version; a NuGet folder name is three numeric parts.
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$", TorchSharpPackageVersion);
    }

    /// <summary>readelf's flags, failing in CI and skipping elsewhere where binutils is absent.</summary>
    private static string RequireReadelfFlags(string path)
    {
        string? flags = ReadelfFlags(path);
        Gate.Require(flags is not null, "readelf (binutils) is not installed: the independent cross-check of the ELF patch cannot run");
        return flags!;
    }

    /// <summary>readelf's view of one version-needs entry (an independent reader), or null without binutils.</summary>
    private static string? ReadelfFlags(string path)
    {
        try
        {
            var psi = new ProcessStartInfo("readelf", ["-V", "-W", path]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            string? line = output.Split('\n').FirstOrDefault(l => l.Contains("Name: " + Version, StringComparison.Ordinal));
            return line is null ? "" : line[(line.IndexOf("Flags:", StringComparison.Ordinal) + 6)..].Trim().Split(' ')[0];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    [SkippableFact]
    public void Build_output_copy_of_LibTorchSharp_has_the_weak_requirement()
    {
        Gate.Require(RuntimeInformation.IsOSPlatform(OSPlatform.Linux), "the libLibTorchSharp patch applies to Linux only");
        string? lib = OutputLibrary();
        Assert.NotNull(lib);
        Assert.True(ElfWeakVersion.IsWeak(lib!, Version));
        Assert.Equal("WEAK", RequireReadelfFlags(lib!));
    }

    [SkippableFact]
    public void Patch_of_the_package_library_changes_one_flag_byte_and_is_idempotent()
    {
        Gate.Require(RuntimeInformation.IsOSPlatform(OSPlatform.Linux), "the libLibTorchSharp patch applies to Linux only");
        string? original = PackageLibrary();
        Assert.True(original is not null, $"the restored TorchSharp {TorchSharpPackageVersion} package has no runtimes/linux-x64/native/libLibTorchSharp.so in the NuGet cache");
        using var dir = new TempDir();
        string copy = dir.File("libLibTorchSharp.so");
        File.Copy(original, copy);
        File.SetLastWriteTimeUtc(copy, new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc));
        byte[] before = File.ReadAllBytes(copy);
        Assert.False(ElfWeakVersion.IsWeak(copy, Version));
        Assert.Equal("none", RequireReadelfFlags(copy));

        Assert.Equal(ElfPatchResult.Patched, ElfWeakVersion.Patch(copy, Version));
        byte[] after = File.ReadAllBytes(copy);
        int[] diffs = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToArray();
        Assert.Single(diffs);
        Assert.Equal(before[diffs[0]] | 0x2, after[diffs[0]]);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), File.GetLastWriteTimeUtc(copy));
        Assert.Equal("WEAK", RequireReadelfFlags(copy));

        Assert.Equal(ElfPatchResult.AlreadyWeak, ElfWeakVersion.Patch(copy, Version));
        Assert.Equal(after, File.ReadAllBytes(copy));
        Assert.Equal(ElfPatchResult.NotRequired, ElfWeakVersion.Patch(copy, "GLIBCXX_9.9.9"));
    }

    [Fact]
    public void Patch_of_a_hand_built_ELF_sets_only_the_named_requirement()
    {
        using var dir = new TempDir();
        string path = dir.File("synthetic.so");
        File.WriteAllBytes(path, SyntheticElf.Build(["GLIBCXX_3.4.30", Version, "CXXABI_1.3.13"], out int[] flagOffsets));
        Assert.Equal(new[] { flagOffsets[1] }, ElfWeakVersion.FindFlagOffsets(File.ReadAllBytes(path), Version));
        Assert.Equal(ElfPatchResult.Patched, ElfWeakVersion.Patch(path, Version));
        byte[] b = File.ReadAllBytes(path);
        Assert.Equal(0x2, b[flagOffsets[1]]);
        Assert.Equal(0x0, b[flagOffsets[0]]);
        Assert.Equal(0x0, b[flagOffsets[2]]);
        Assert.Equal(ElfPatchResult.AlreadyWeak, ElfWeakVersion.Patch(path, Version));
    }

    [Fact]
    public void A_file_that_is_not_ELF_is_rejected()
    {
        Assert.Throws<InvalidDataException>(() => ElfWeakVersion.FindFlagOffsets(new byte[128], Version));
    }
}

/// <summary>Builds a minimal ELF64 LE file with a .dynstr and a .gnu.version_r of one Verneed entry, by the System V ABI layout.</summary>
internal static class SyntheticElf
{
    public static byte[] Build(string[] versions, out int[] flagOffsets)
    {
        // Layout: [ELF header 64][dynstr][verneed 16 + 16·n][section headers 3 × 64]
        var strtab = new List<byte> { 0 };
        int fileNameOff = strtab.Count; strtab.AddRange("libstdc++.so.6"u8.ToArray()); strtab.Add(0);
        var nameOffs = new int[versions.Length];
        for (int i = 0; i < versions.Length; i++) { nameOffs[i] = strtab.Count; strtab.AddRange(System.Text.Encoding.ASCII.GetBytes(versions[i])); strtab.Add(0); }
        while (strtab.Count % 8 != 0) strtab.Add(0);
        int strOff = 64, vnOff = strOff + strtab.Count, vnSize = 16 + 16 * versions.Length, shOff = vnOff + vnSize;
        var b = new byte[shOff + 3 * 64];
        b[0] = 0x7f; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; b[4] = 2; b[5] = 1; b[6] = 1;
        BitConverter.TryWriteBytes(b.AsSpan(0x10), (ushort)3);       // ET_DYN
        BitConverter.TryWriteBytes(b.AsSpan(0x12), (ushort)62);      // EM_X86_64
        BitConverter.TryWriteBytes(b.AsSpan(0x28), (ulong)shOff);    // e_shoff
        BitConverter.TryWriteBytes(b.AsSpan(0x34), (ushort)64);      // e_ehsize
        BitConverter.TryWriteBytes(b.AsSpan(0x3A), (ushort)64);      // e_shentsize
        BitConverter.TryWriteBytes(b.AsSpan(0x3C), (ushort)3);       // e_shnum
        strtab.ToArray().CopyTo(b, strOff);
        // Verneed: vn_version 1, vn_cnt n, vn_file, vn_aux 16, vn_next 0
        BitConverter.TryWriteBytes(b.AsSpan(vnOff), (ushort)1);
        BitConverter.TryWriteBytes(b.AsSpan(vnOff + 2), (ushort)versions.Length);
        BitConverter.TryWriteBytes(b.AsSpan(vnOff + 4), (uint)fileNameOff);
        BitConverter.TryWriteBytes(b.AsSpan(vnOff + 8), 16u);
        flagOffsets = new int[versions.Length];
        for (int i = 0; i < versions.Length; i++)
        {
            int a = vnOff + 16 + 16 * i;
            BitConverter.TryWriteBytes(b.AsSpan(a), (uint)(0x1000 + i));                // vna_hash
            flagOffsets[i] = a + 4;                                                       // vna_flags = 0
            BitConverter.TryWriteBytes(b.AsSpan(a + 6), (ushort)(2 + i));                 // vna_other
            BitConverter.TryWriteBytes(b.AsSpan(a + 8), (uint)nameOffs[i]);               // vna_name
            BitConverter.TryWriteBytes(b.AsSpan(a + 12), i + 1 < versions.Length ? 16u : 0u); // vna_next
        }
        // Section 1: .dynstr (SHT_STRTAB = 3); section 2: .gnu.version_r (SHT_GNU_verneed), sh_link = 1, sh_info = 1
        int s1 = shOff + 64, s2 = shOff + 128;
        BitConverter.TryWriteBytes(b.AsSpan(s1 + 4), 3u);
        BitConverter.TryWriteBytes(b.AsSpan(s1 + 0x18), (ulong)strOff);
        BitConverter.TryWriteBytes(b.AsSpan(s1 + 0x20), (ulong)strtab.Count);
        BitConverter.TryWriteBytes(b.AsSpan(s2 + 4), 0x6ffffffeu);
        BitConverter.TryWriteBytes(b.AsSpan(s2 + 0x18), (ulong)vnOff);
        BitConverter.TryWriteBytes(b.AsSpan(s2 + 0x20), (ulong)vnSize);
        BitConverter.TryWriteBytes(b.AsSpan(s2 + 0x28), 1u);
        BitConverter.TryWriteBytes(b.AsSpan(s2 + 0x2C), 1u);
        return b;
    }
}
