namespace Tessera.Runtime;

public static partial class TorchRuntime
{
    // The first-use set-up: Configure's defaults (glibc heap thresholds, NNPACK off, oneDNN as the environment asks,
    // libtorch's default thread count). A program that never calls Configure would otherwise run DeepLabV3 inference
    // up to about 2× slower (the heap trimmed and regrown on every pass: NativeHeap) and see NNPACK warnings.
    private static readonly FirstUseSetup Auto = new(
        () => ConfigureCore(new RuntimeOptions()),
        "Tessera: libtorch set up on first use (glibc heap thresholds and huge pages for tensors, NNPACK off, float32 products through oneDNN where it multiplies in float32); to decide yourself, call "
        + "TorchRuntime.Configure first, or set TorchRuntime.AutoConfigure = false or the environment variable TESSERA_AUTOCONFIGURE=0",
        enabled: Environment.GetEnvironmentVariable("TESSERA_AUTOCONFIGURE") != "0");

    /// <summary>
    /// Whether the library applies <see cref="Configure"/>'s defaults the first time it loads or runs a model in a
    /// process where <see cref="Configure"/> was never called (announced once through <see cref="AutoConfigureLog"/>).
    /// Default true, false when the environment variable TESSERA_AUTOCONFIGURE is 0. Set it to false before the first
    /// model to leave the process as the application set it; a call to <see cref="Configure"/> always wins.
    /// </summary>
    public static bool AutoConfigure
    {
        get => Auto.Enabled;
        set => Auto.Enabled = value;
    }

    /// <summary>Where the one line announcing the first-use set-up goes; null for nowhere. Default: standard error.</summary>
    public static Action<string>? AutoConfigureLog
    {
        get => Auto.Log;
        set => Auto.Log = value;
    }

    /// <summary>Whether the process has been set up, explicitly or on first use.</summary>
    public static bool IsConfigured => Auto.Done;

    /// <summary>
    /// Applies <see cref="Configure"/>'s defaults unless the process was configured already or the application opted
    /// out (<see cref="AutoConfigure"/>); returns whether this call did it. The library calls it where it loads or
    /// first runs a model; thread-safe, and only the first call does anything.
    /// </summary>
    public static bool EnsureConfigured() => Auto.Ensure();
}
