namespace Tessera.Runtime;

/// <summary>
/// libtorch's own autocast (PyTorch's <c>torch.autocast</c>), which TorchSharp does not expose, switched on for the
/// calling thread through the functions libtorch exports (at::autocast). While a scope is open, every op dispatched
/// on that thread and device follows libtorch's autocast lists: matrix products and convolutions cast their inputs
/// (float32 weights included, cached for the scope) to the lower type, losses (cross-entropy, MSE, NLL, …) and other
/// ops of the float32 list run in float32, everything else in the type of its inputs. Autograd records the casts, so
/// gradients of float32 parameters are float32 (the master weights of mixed-precision training, Micikevicius et al.
/// 2018). Thread-local: dispose the scope on the thread that opened it; scopes nest.
/// </summary>
internal sealed partial class Autocast : IDisposable
{
    // c10::DeviceType (int8): CPU 0, CUDA 1; c10::ScalarType (int8): Half 5, BFloat16 15.
    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool IsEnabled(sbyte device);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
    private static partial void SetEnabled(sbyte device, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
    private static partial void SetDtype(sbyte device, sbyte type);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
    private static partial long IncrementNesting();

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
    private static partial long DecrementNesting();

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
    private static partial void ClearCache();

    private readonly sbyte _device;
    private readonly bool _wasEnabled;
    private readonly int _thread = Environment.CurrentManagedThreadId;
    private bool _disposed;

    private Autocast(sbyte device, sbyte type)
    {
        _device = device;
        _wasEnabled = IsEnabled(device);
        SetEnabled(device, true);
        SetDtype(device, type);
        IncrementNesting();
    }

    /// <summary>Whether libtorch's autocast functions are reachable here (Linux x64, the libtorch TorchSharp loads).</summary>
    public static bool Available => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>
    /// Opens autocast to <paramref name="precision"/> on <paramref name="device"/>'s type for the calling thread; null
    /// for float32 (nothing to do).
    /// </summary>
    /// <exception cref="TesseraUserException">Autocast is not reachable on this platform (parameter <c>precision</c>).</exception>
    public static Autocast? Begin(Precision precision, torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (precision == Precision.Float32) return null;
        if (!Available)
            throw new TesseraUserException(nameof(precision), $"{EnumNames.Name(precision)}: mixed precision needs libtorch's autocast, reachable on Linux x64 only");
        _ = torch.get_num_threads(); // loads libtorch
        sbyte type = precision == Precision.BFloat16 ? (sbyte)15 : (sbyte)5;
        return new Autocast(device.type == DeviceType.CUDA ? (sbyte)1 : (sbyte)0, type);
    }

    /// <summary>Closes the scope: the previous state comes back, and the cached casts are dropped when the outermost scope closes.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (Environment.CurrentManagedThreadId != _thread)
            throw new InvalidOperationException("an autocast scope must be closed on the thread that opened it (libtorch's autocast state is per thread)");
        SetEnabled(_device, _wasEnabled);
        if (DecrementNesting() == 0) ClearCache();
    }
}
