namespace Tessera.Runtime;

/// <summary>The address of a tensor's first element (libtorch's <c>data_ptr</c>, on the tensor's device), for collectives and native kernels.</summary>
internal static partial class TensorMemory
{
    [LibraryImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static partial IntPtr Data(IntPtr tensor);

    /// <summary>The data pointer of a contiguous tensor.</summary>
    /// <exception cref="ArgumentException">The tensor is not contiguous.</exception>
    public static IntPtr Pointer(torch.Tensor tensor)
    {
        if (!tensor.is_contiguous()) throw new ArgumentException("native code needs a contiguous tensor", nameof(tensor));
        return Data(tensor.Handle);
    }
}
