namespace Tessera.Layers;

/// <summary>
/// 2-D convolution that steps around oneDNN 3.7's faults on channels-last 1 × 1 convolutions (docs/known-issues.md).
/// On a CPU at two threads or more (libtorch 2.10 / oneDNN 3.7.1, the one TorchSharp 0.107 ships, on an AVX-512 CPU
/// without AMX), a channels-last input to a 1 × 1 convolution (groups 1, no padding) either kills the process with
/// SIGFPE — the (in, out) pairs of oneDNN's "maskrcnn workaround", (256, 1024), (512, 1024), (1024, 512), (1024, 2048),
/// (512, 2048), in float32 and bfloat16, at every batch size — or, for many other pairs, returns wrong values. A scan of
/// every (in, out) pair of {16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 2048} at 64², two
/// threads, float32: 37 pairs came out with a relative error of 0.45–0.77 (33 of the 56 with fewer than 256 inputs and
/// 320, 512, 640, 1024 or 2048 outputs — MobileSAM's 160 → 320 patch merging among them — and 256 → 512, 256 → 2048,
/// 320 → 2048, 384 → 2048), 4 died of SIGFPE, every pair with 256 outputs or fewer was right. NCHW inputs, one thread,
/// 3 × 3 kernels and the matrix product were right for every pair
/// scanned. So every channels-last 1 × 1 convolution runs here as the matrix product it is (as fast as oneDNN's
/// convolution at one thread, 139 against 32 GFLOP/s for the NCHW one at two); every other one goes to libtorch's
/// convolution unchanged.
/// </summary>
internal static class PointwiseConvolution
{
    /// <summary>
    /// conv2d(x, weight, bias) with the given geometry, as <c>torch.nn.functional.conv2d</c> computes it; the channels-last
    /// 1 × 1 case (<see cref="Reroutes"/>) as a product over the channels of the channels-last activations, which also
    /// keeps the output channels-last.
    /// </summary>
    public static torch.Tensor Conv2d(torch.Tensor x, torch.Tensor weight, torch.Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        if (!Reroutes(x, weight, padding, groups)) return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups);
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

    /// <summary>Whether the convolution of <paramref name="x"/> by <paramref name="weight"/> runs here as a product: a CPU, channels-last, 1 × 1 one (groups 1, no padding), the kind oneDNN 3.7 may get wrong or die planning.</summary>
    public static bool Reroutes(torch.Tensor x, torch.Tensor weight, long[] padding, long groups) =>
        x.device_type == DeviceType.CPU && x.dim() == 4 && weight.dim() == 4 && groups == 1
        && weight.shape[2] == 1 && weight.shape[3] == 1 && padding.All(p => p == 0)
        && IsChannelsLast(x);

    // Channel stride 1: the strides libtorch reads as channels-last (what makes it hand oneDNN NHWC), sliced or not; a
    // contiguous NCHW input (channel stride H·W) is computed right.
    private static bool IsChannelsLast(torch.Tensor x) => x.stride(1) == 1;
}
