namespace Tessera.Runtime;

/// <summary>
/// Switches libtorch's oneDNN (MKL-DNN) CPU kernels on or off through at::Context, which TorchSharp does not
/// expose. Why: with libtorch 2.10 (TorchSharp 0.107) on the project's AMD EPYC (AVX-512) machines, oneDNN's
/// convolution backward-data returns NaN for some inputs: a 3×3 convolution to 11 channels whose output
/// gradient is an expanded (stride-0) tensor gave NaN input gradients in 3–5 of 60 passes, and GCN-Net's
/// 11-channel (and 8-channel) score maps gave NaN in every pass; 16-channel maps and dense gradients never did,
/// nor did PyTorch 1.13 on the same machine or libtorch with oneDNN off. oneDNN off is correct but about six
/// times slower for convolutions, so it stays on by default and Tessera's models keep every convolution that
/// needs an input gradient at a multiple of 16 channels; TESSERA_ONEDNN=0 turns it off.
/// </summary>
public static partial class OneDnn
{
    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("torch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    [LibraryImport("torch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledNnpack(IntPtr context);

    /// <summary>Whether libtorch may use NNPACK, or null when the native switch is not reachable.</summary>
    public static bool? NnpackEnabled
    {
        get
        {
            try { return UserEnabledNnpack(GlobalContext()); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        }
    }

    /// <summary>Whether oneDNN kernels are enabled, or null when the native switch is not reachable.</summary>
    public static bool? Enabled
    {
        get
        {
            try { return UserEnabledMkldnn(GlobalContext()); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        }
    }

    /// <summary>
    /// Turns libtorch's NNPACK convolutions off. libtorch picks NNPACK for some shapes (small batches, one thread)
    /// even with oneDNN on; on CPUs NNPACK does not support (this project's AMD EPYC machines) its initialisation
    /// fails and libtorch prints a warning on every such convolution before falling back. Returns false when the
    /// native switch is not reachable.
    /// </summary>
    public static bool DisableNnpack()
    {
        try
        {
            SetUserEnabledNnpack(GlobalContext(), false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Turns oneDNN on or off; returns false when the native switch is not reachable.</summary>
    public static bool SetEnabled(bool enabled)
    {
        try
        {
            SetUserEnabledMkldnn(GlobalContext(), enabled);
            // Without oneDNN, libtorch tries NNPACK, which this CPU lacks, and warns on every convolution.
            if (!enabled) SetUserEnabledNnpack(GlobalContext(), false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
