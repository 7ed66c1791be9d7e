namespace Tessera.Training.Distributed;

/// <summary>The address of a tensor's first element (libtorch's <c>data_ptr</c>, on the tensor's device), for collectives.</summary>
internal static partial class TensorMemory
{
    [LibraryImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static partial IntPtr Data(IntPtr tensor);

    /// <summary>The data pointer of a contiguous tensor.</summary>
    /// <exception cref="ArgumentException">The tensor is not contiguous.</exception>
    public static IntPtr Pointer(torch.Tensor tensor)
    {
        if (!tensor.is_contiguous()) throw new ArgumentException("collectives need a contiguous tensor", nameof(tensor));
        return Data(tensor.Handle);
    }
}
