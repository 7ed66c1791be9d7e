using System.Reflection;
using TorchSharp;

namespace Tessera.Runtime;

/// <summary>
/// Device selection, thread count and version information for the libtorch engine under Tessera.
/// </summary>
public static class TorchRuntime
{
    private static int _initialized;

    /// <summary>
    /// One-time process set-up: tunes glibc's heap for libtorch's tensors (<see cref="NativeHeap"/>), loads libtorch,
    /// turns NNPACK off (TESSERA_NNPACK=1 keeps it) and honours
    /// TESSERA_ONEDNN=0, which turns libtorch's oneDNN kernels off (see <see cref="OneDnn"/>). Idempotent; every Tessera trainer and the CLI call it.
    /// </summary>
    public static void EnsureInitialized()
    {
        if (Interlocked.Exchange(ref _initialized, 1) == 1) return;
        NativeHeap.Configure();
        _ = torch.get_num_threads(); // loads the native libraries
        // NNPACK is off unless TESSERA_NNPACK=1: where the CPU lacks it, libtorch warns on every convolution.
        if (Environment.GetEnvironmentVariable("TESSERA_NNPACK") != "1") OneDnn.DisableNnpack();
        if (Environment.GetEnvironmentVariable("TESSERA_ONEDNN") == "0") OneDnn.SetEnabled(false);
    }

    /// <summary>
    /// Parses a device string ("cpu", "cuda", "cuda:1") and makes it usable: for CUDA the CUDA
    /// backend is initialised before any other use of libtorch, and its absence is a user error.
    /// </summary>
    /// <exception cref="TesseraUserException">The string is not a device, or CUDA is not available.</exception>
    public static torch.Device ResolveDevice(string? spec)
    {
        string requested = string.IsNullOrWhiteSpace(spec) ? "cpu" : spec.Trim().ToLowerInvariant();
        if (!requested.StartsWith("cuda", StringComparison.Ordinal)) EnsureInitialized();
        string text = string.IsNullOrWhiteSpace(spec) ? "cpu" : spec.Trim().ToLowerInvariant();
        string kind = text.Split(':')[0];
        int index = -1;
        if (text.Contains(':'))
        {
            string ordinal = text[(text.IndexOf(':') + 1)..];
            if (!int.TryParse(ordinal, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
                throw new TesseraUserException($"--device: '{spec}' is not a device; expected cpu, cuda or cuda:N");
        }
        switch (kind)
        {
            case "cpu":
                if (index > 0) throw new TesseraUserException($"--device: '{spec}' is not a device; the CPU has no index");
                return torch.CPU;
            case "cuda":
                try
                {
                    torch.InitializeDeviceType(DeviceType.CUDA);
                }
                catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException or InvalidOperationException)
                {
                    throw new TesseraUserException("--device cuda: CUDA is not available here (this build uses TorchSharp's CPU libtorch; install TorchSharp-cuda-linux or run against a CUDA libtorch)", e);
                }
                if (!torch.cuda.is_available())
                    throw new TesseraUserException("--device cuda: libtorch reports no CUDA device on this machine");
                EnsureInitialized();
                if (index >= torch.cuda.device_count())
                    throw new TesseraUserException($"--device: '{spec}' names a GPU that does not exist ({torch.cuda.device_count()} found)");
                return index < 0 ? torch.CUDA : new torch.Device(DeviceType.CUDA, index);
            default:
                throw new TesseraUserException($"--device: '{spec}' is not a device; expected cpu, cuda or cuda:N");
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
