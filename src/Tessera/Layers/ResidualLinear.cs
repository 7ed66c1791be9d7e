using Tessera.Runtime;

namespace Tessera.Layers;

/// <summary>
/// A residual connection around a linear layer or a 1 × 1 convolution, r + (x·Wᵀ + b), as one product accumulated into
/// r + b (<c>addmm_</c> with β = 1). libtorch's <c>linear</c> copies b into its output before the product, and the sum
/// with r is a pass of its own; here the output is r + b in one pass and the product adds to it in place.
/// </summary>
/// <remarks>
/// For inference (<see cref="NoGradient"/>) on tensors whose feature axis is the innermost in memory: the last axis
/// of contiguous tokens, or axis 1 of a channels-last map. Elsewhere, <c>r + linear(x, W, b)</c> as libtorch computes it.
/// The sum is taken in a different order (r + b first), so float32 results differ from that path in the last bits.
/// </remarks>
internal static class ResidualLinear
{
    /// <summary>
    /// r + (x·Wᵀ + b) over feature axis <paramref name="featureAxis"/> (negative from the end) of <paramref name="residual"/>
    /// and <paramref name="x"/>; <paramref name="weight"/> [out, in] or [out, in, 1, 1].
    /// </summary>
    public static torch.Tensor Apply(torch.Tensor residual, torch.Tensor x, torch.Tensor weight, torch.Tensor? bias, int featureAxis)
    {
        int dims = (int)residual.dim(), axis = featureAxis < 0 ? featureAxis + dims : featureAxis;
        var w = weight.dim() == 2 ? weight : weight.flatten(1);
        if (residual.requires_grad || !NoGradient.For(x, w, bias)
            || x.dim() != dims || !TensorMemory.IsDense(residual, axis) || !TensorMemory.IsDense(x, axis)
            || residual.dtype != x.dtype || w.dtype != x.dtype || residual.device_type != x.device_type)
            return residual + Linear(x, w, bias, axis);
        torch.Tensor y;
        if (bias is null) y = residual.clone();
        else
        {
            var shape = Enumerable.Repeat(1L, dims).ToArray();
            shape[axis] = bias.numel();
            y = residual.add(bias.view(shape));
        }
        if (!TensorMemory.IsDense(y, axis)) return residual + Linear(x, w, bias, axis);
        Rows(y, axis).addmm_(Rows(x, axis), w.t());
        return y;
    }

    // The tensor as [rows, features]: a view, the feature axis being innermost and the rest dense.
    private static torch.Tensor Rows(torch.Tensor t, int axis)
    {
        if (axis == t.dim() - 1) return t.view(-1, t.shape[axis]);
        var order = Enumerable.Range(0, (int)t.dim()).Where(d => d != axis).OrderByDescending(d => t.stride(d)).Append(axis).Select(d => (long)d).ToArray();
        return t.permute(order).view(-1, t.shape[axis]);
    }

    private static torch.Tensor Linear(torch.Tensor x, torch.Tensor w, torch.Tensor? bias, int axis)
    {
        if (axis == x.dim() - 1) return torch.nn.functional.linear(x, w, bias);
        // Features on another axis (a map [B, C, H, W]): the product over that axis, the output's axes in x's order.
        long dims = x.dim();
        var toLast = Enumerable.Range(0, (int)dims).Where(d => d != axis).Append(axis).Select(d => (long)d).ToArray();
        var back = new long[dims];
        for (int i = 0; i < dims; i++) back[toLast[i]] = i;
        return torch.nn.functional.linear(x.permute(toLast), w, bias).permute(back);
    }
}
