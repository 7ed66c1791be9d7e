namespace Tessera.Runtime;

/// <summary>Moving a kept tensor to another device without leaking the handle it replaces.</summary>
internal static class TensorPlacement
{
    /// <summary>
    /// <paramref name="t"/> on <paramref name="device"/>: the original is disposed when a copy was made (libtorch may
    /// hand back the same tensor when it is already there, which stays alive).
    /// </summary>
    public static torch.Tensor MoveTo(torch.Tensor t, torch.Device device)
    {
        var moved = t.to(device);
        if (!ReferenceEquals(moved, t)) t.Dispose();
        return moved;
    }
}
