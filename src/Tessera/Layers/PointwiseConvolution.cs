namespace Tessera.Layers;

/// <summary>
/// 2-D convolution that steps around oneDNN 3.7's SIGFPE on ResNet bottlenecks' 1 × 1 convolutions
/// (docs/known-issues.md): on a CPU, a channels-last input to a 1 × 1 convolution (groups 1, no padding) whose
/// (in, out) channels are one of the pairs oneDNN's "maskrcnn workaround" singles out — (256, 1024), (512, 1024),
/// (1024, 512), (1024, 2048), (512, 2048) — kills the process at two threads or more, in float32 and bfloat16 alike,
/// at every batch size and most spatial sizes (measured with libtorch 2.10 / oneDNN 3.7.1, the one TorchSharp 0.107
/// ships). Those convolutions run here as the matrix product they are; every other one goes to libtorch's
/// convolution unchanged.
/// </summary>
internal static class PointwiseConvolution
{
    /// <summary>The (in, out) channel pairs of oneDNN's <c>est_eff_1x1</c> heuristic whose integer division traps.</summary>
    private static readonly HashSet<(long In, long Out)> TrappedPairs = [(1024, 2048), (1024, 512), (256, 1024), (512, 1024), (512, 2048)];

    /// <summary>
    /// conv2d(x, weight, bias) with the given geometry, as <c>torch.nn.functional.conv2d</c> computes it; the trapped
    /// 1 × 1 case (<see cref="Traps"/>) as a product over the channels of the channels-last activations, which also
    /// keeps the output channels-last.
    /// </summary>
    public static torch.Tensor Conv2d(torch.Tensor x, torch.Tensor weight, torch.Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        if (!Traps(x, weight, padding, groups)) return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups);
        using var scope = torch.NewDisposeScope();
        var strided = stride.All(s => s == 1) ? x
            : x[.., .., torch.TensorIndex.Slice(null, null, stride[0]), torch.TensorIndex.Slice(null, null, stride[1])];
        // A 1 × 1 convolution: y[n, o, h, w] = Σ_c W[o, c] x[n, c, h, w] + b[o], i.e. the NHWC rows times Wᵀ.
        var y = torch.nn.functional.linear(strided.permute(0, 2, 3, 1), weight.flatten(1), bias);
        return y.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }

    /// <summary><paramref name="conv"/> applied to <paramref name="x"/> (its own weights and geometry) through <see cref="Conv2d(torch.Tensor, torch.Tensor, torch.Tensor?, long[], long[], long[], long)"/>.</summary>
    public static torch.Tensor Forward(Conv2d conv, torch.Tensor x) =>
        conv.padding_mode == PaddingModes.Zeros && conv.padding is { } padding
            ? Conv2d(x, conv.weight!, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
            : conv.forward(x);

    /// <summary>Whether libtorch's convolution of <paramref name="x"/> by <paramref name="weight"/> is the one oneDNN 3.7 dies planning.</summary>
    public static bool Traps(torch.Tensor x, torch.Tensor weight, long[] padding, long groups) =>
        x.device_type == DeviceType.CPU && x.dim() == 4 && weight.dim() == 4 && groups == 1
        && weight.shape[2] == 1 && weight.shape[3] == 1 && padding.All(p => p == 0)
        && TrappedPairs.Contains((weight.shape[1], weight.shape[0]))
        && IsChannelsLast(x);

    // Channel stride 1: the strides libtorch reads as channels-last (what makes it hand oneDNN NHWC), sliced or not; a
    // contiguous NCHW input (channel stride H·W) does not trap.
    private static bool IsChannelsLast(torch.Tensor x) => x.stride(1) == 1;
}
