namespace Tessera.Cli.Commands;

/// <summary><c>tessera info</c>: versions, device, threads, the CPU features libtorch uses and data locations.</summary>
public sealed class InfoCommand : TesseraCommand<DataSettings>
{
    public override int Execute(CommandContext context, DataSettings settings, CancellationToken cancellation)
    {
        torch.Device device = settings.Apply();
        FashionMnistSource source = FashionMnist.Locate(settings.Data);
        var table = new Table().AddColumn("item").AddColumn("value").HideHeaders();
        void Row(string k, string v) => table.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("Tessera", TorchRuntime.TesseraVersion);
        Row("TorchSharp", TorchRuntime.TorchSharpVersion);
        Row("libtorch", TorchRuntime.LibTorchVersion);
        Row("device", device.ToString());
        Row("CUDA available", torch.cuda.is_available() ? $"yes ({torch.cuda.device_count()} device(s))" : "no");
        Row("threads", torch.get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture));
        var cpu = CpuFeatures.Detect();
        Row("CPU flags", cpu.HostText);
        Row("ATen CPU capability", cpu.AtenText);
        Row("oneDNN", cpu.OneDnnText);
        Row("BLAS", cpu.BlasText);
        Row("float32 products", Tessera.Runtime.Float32MatmulPrecision.OneDnnFloat32 ? "oneDNN (float32 arithmetic, checked)" : "libtorch's default (MKL on x86)");
        Row("huge pages for large tensors", NativeHeap.HugePagesActive() ? "on" : $"off (kernel: {HugePagesMode()}; {NativeHeap.HugePagesVariable} {Environment.GetEnvironmentVariable(NativeHeap.HugePagesVariable) ?? "unset"} when the process started)");
        Row("freed large tensors' memory", NativeHeap.FreedMemoryReused() ? "reused" : $"mapped afresh at each allocation (heap settings {(NativeHeap.Configured ? "made, but this thread's glibc arena predates them" : "not made: TESSERA_MALLOC=default, MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ set, or not glibc")})");
        Row("Fashion-MNIST", source.Describe());
        Row("Debian dataset folder", Directory.Exists(FashionMnist.DebianFolder) ? FashionMnist.DebianFolder : $"{FashionMnist.DebianFolder} (absent)");
        Row(".NET", $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription} on {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}");
        Ui.Console.Write(table);
        return Program.Ok;
    }

    // The kernel's transparent-huge-page mode: the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled.
    internal static string HugePagesMode()
    {
        const string Path = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!File.Exists(Path)) return "no transparent huge pages";
        string text = File.ReadAllText(Path);
        int a = text.IndexOf('['), b = text.IndexOf(']');
        return a >= 0 && b > a ? text[(a + 1)..b] : text.Trim();
    }
}
