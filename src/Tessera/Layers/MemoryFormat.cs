namespace Tessera.Layers;

/// <summary>Memory layouts of 4-D tensors (TorchSharp 0.107 has no memory-format argument; libtorch infers it from the strides).</summary>
internal static class MemoryFormat
{
    /// <summary>
    /// The same [N, C, H, W] values and shape with their memory in [N, H, W, C] order (channels-last): what oneDNN's
    /// convolutions take without reordering, and the order in which SAM's decoder reads image tokens. A tensor already in
    /// this order is not copied.
    /// </summary>
    public static torch.Tensor ChannelsLast(torch.Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
}
