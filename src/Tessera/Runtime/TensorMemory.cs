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

    /// <summary>
    /// The data pointer of a dense tensor: its elements fill [pointer, pointer + numel) in some order of its axes (contiguous,
    /// channels-last, or any permutation of a contiguous tensor), what an element-wise kernel can run over flat.
    /// </summary>
    /// <exception cref="ArgumentException">The tensor is not dense.</exception>
    public static IntPtr DensePointer(torch.Tensor tensor)
    {
        if (!IsDense(tensor)) throw new ArgumentException("native code needs a dense tensor", nameof(tensor));
        return Data(tensor.Handle);
    }

    /// <summary>
    /// Whether <paramref name="tensor"/> is dense (see <see cref="DensePointer"/>) with axis <paramref name="innermost"/> (if
    /// given, negative from the end) the one of stride 1, every other axis of more than one element a whole multiple of it.
    /// </summary>
    public static bool IsDense(torch.Tensor tensor, int? innermost = null)
    {
        int dims = (int)tensor.dim();
        var order = Enumerable.Range(0, dims).Where(d => tensor.shape[d] != 1).ToList();
        if (innermost is int axis)
        {
            axis = axis < 0 ? axis + dims : axis;
            if (axis < 0 || axis >= dims) return false;
            if (tensor.shape[axis] != 1 && tensor.stride(axis) != 1) return false;
            order.Remove(axis);
            order.Sort((a, b) => tensor.stride(a).CompareTo(tensor.stride(b)));
            order.Insert(0, axis);
        }
        else order.Sort((a, b) => tensor.stride(a).CompareTo(tensor.stride(b)));
        long expected = 1;
        foreach (int d in order)
        {
            if (tensor.shape[d] == 1) continue;
            if (tensor.stride(d) != expected) return false;
            expected *= tensor.shape[d];
        }
        return true;
    }
}
