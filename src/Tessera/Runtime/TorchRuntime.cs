using System.Reflection;

namespace Tessera.Runtime;

/// <summary>
/// Device selection, thread count and version information for the libtorch engine under Tessera.
/// </summary>
public static partial class TorchRuntime
{
    private static int _heapTuned, _float32PathChosen;

    /// <summary>
    /// Process set-up for libtorch, explicit and process-wide: makes <see cref="RuntimeOptions.Device"/> usable (CUDA
    /// initialised first), tunes glibc's heap (<see cref="NativeHeap"/>, first call only), turns NNPACK off unless
    /// asked, switches oneDNN, sets the thread count and, on a CPU, sends float32 products to oneDNN where that stays
    /// float32 (<see cref="RuntimeOptions.OneDnnFloat32Products"/>). The command line calls it once per run, and a program using the
    /// library may call it before its first tensor; otherwise the library applies the defaults the first time it loads or
    /// runs a model (<see cref="AutoConfigure"/>). Returns the device.
    /// </summary>
    /// <exception cref="TesseraUserException">The device is not a device, or CUDA is not available (parameter <c>Device</c>).</exception>
    public static torch.Device Configure(RuntimeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        torch.Device device = ConfigureCore(options);
        Auto.MarkDone(); // an explicit configuration wins over the first-use one (TorchRuntime.AutoConfigure.cs)
        return device;
    }

    private static torch.Device ConfigureCore(RuntimeOptions options)
    {
        if (options.Threads < 0) throw new TesseraUserException(nameof(RuntimeOptions.Threads), $"{options.Threads} is negative; expected 0 (default) or a positive count");
        // CUDA's backend must be initialised before libtorch is otherwise used: then the device comes first.
        bool cuda = options.Device.Trim().StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        if (!cuda) TuneHeap(options);
        torch.Device device = ResolveDevice(options.Device);
        if (cuda) TuneHeap(options);
        _ = torch.get_num_threads(); // loads the native libraries
        if (!options.Nnpack) Runtime.OneDnn.DisableNnpack();
        if (options.OneDnn is bool on) Runtime.OneDnn.SetEnabled(on);
        SetThreads(options.Threads);
        // Once per process, like the heap: libtorch's precision setter assigns global strings that running products read,
        // so calling it again while other threads multiply (a program configuring twice; tests in parallel) races with them.
        if (!cuda && options.OneDnnFloat32Products && Interlocked.Exchange(ref _float32PathChosen, 1) == 0) Float32MatmulPrecision.UseOneDnnWhereExact();
        return device;
    }

    private static void TuneHeap(RuntimeOptions options)
    {
        if (options.TuneHeap && Interlocked.Exchange(ref _heapTuned, 1) == 0) NativeHeap.Configure();
    }

    /// <summary>
    /// Parses a device string ("cpu", "cuda", "cuda:1") and makes it usable: for CUDA the CUDA
    /// backend is initialised before any other use of libtorch, and its absence is a user error.
    /// </summary>
    /// <exception cref="TesseraUserException">The string is not a device, or CUDA is not available (parameter <c>Device</c>).</exception>
    public static torch.Device ResolveDevice(string? spec)
    {
        const string Device = nameof(RuntimeOptions.Device);
        string text = string.IsNullOrWhiteSpace(spec) ? "cpu" : spec.Trim().ToLowerInvariant();
        string kind = text.Split(':')[0];
        int index = -1;
        if (text.Contains(':'))
        {
            string ordinal = text[(text.IndexOf(':') + 1)..];
            if (!int.TryParse(ordinal, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
                throw new TesseraUserException(Device, $"'{spec}' is not a device; expected cpu, cuda or cuda:N");
        }
        switch (kind)
        {
            case "cpu":
                if (index > 0) throw new TesseraUserException(Device, $"'{spec}' is not a device; the CPU has no index");
                return torch.CPU;
            case "cuda":
                try
                {
                    torch.InitializeDeviceType(DeviceType.CUDA);
                }
                catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException or InvalidOperationException)
                {
                    throw new TesseraUserException(Device, "cuda: CUDA is not available here (this build uses TorchSharp's CPU libtorch; install TorchSharp-cuda-linux or run against a CUDA libtorch)", e);
                }
                if (!torch.cuda.is_available())
                    throw new TesseraUserException(Device, "cuda: libtorch reports no CUDA device on this machine");
                if (index >= torch.cuda.device_count())
                    throw new TesseraUserException(Device, $"'{spec}' names a GPU that does not exist ({torch.cuda.device_count()} found)");
                return index < 0 ? torch.CUDA : new torch.Device(DeviceType.CUDA, index);
            default:
                throw new TesseraUserException(Device, $"'{spec}' is not a device; expected cpu, cuda or cuda:N");
        }
    }

    /// <summary>Sets libtorch's intra-op thread count; 0 or less leaves libtorch's default.</summary>
    public static void SetThreads(int threads)
    {
        if (threads > 0) torch.set_num_threads(threads);
    }

    /// <summary>Seeds libtorch's global generators (CPU and, when initialised, CUDA).</summary>
    public static void Seed(long seed) => torch.manual_seed(seed);

    /// <summary>Tessera's version (informational, from the assembly).</summary>
    public static string TesseraVersion =>
        typeof(TorchRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(TorchRuntime).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>The TorchSharp bindings' version.</summary>
    public static string TorchSharpVersion => typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    /// <summary>The native libtorch version TorchSharp was built against (what <c>torch.__version__</c> reports).</summary>
    public static string LibTorchVersion => torch.__version__;
}
