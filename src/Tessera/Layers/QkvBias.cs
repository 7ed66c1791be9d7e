using TorchSharp.Modules;

namespace Tessera.Layers;

/// <summary>
/// The biases of a fused q, k, v projection in softmax attention, applied where they cost least in inference.
/// softmax((q + b_q)·(k_j + b_k)) over the keys j equals softmax((q + b_q)·k_j): (q + b_q)·b_k is the same for every key of
/// a row, and softmax is unchanged by a constant added to a row. Σ_j a_j (v_j + b_v) = Σ_j a_j v_j + b_v, since the
/// weights a_j sum to 1, so b_v moves through the output projection into its bias: W_o(o + b_v) + b_o = W_o o + (W_o b_v + b_o).
/// So the q, k, v product runs without a bias (libtorch's <c>linear</c> copies its bias into the whole 3·C-wide output
/// before the product) and only the queries take theirs, in the pass that scales or lays them out anyway.
/// </summary>
/// <remarks>
/// Exact in real arithmetic; in float32 the logits differ from the biased product's in the last bits. Only without
/// autograd (<see cref="Applies"/>): a gradient for b_k (zero in exact arithmetic) and b_v is the training code's.
/// </remarks>
internal static class QkvBias
{
    /// <summary>Whether the rewrite applies: both layers have biases and nothing needs a gradient.</summary>
    public static bool Applies(Linear qkv, Linear proj, torch.Tensor x) =>
        qkv.bias is not null && proj.bias is not null && NoGradient.For(x, qkv.weight, qkv.bias, proj.weight, proj.bias);

    /// <summary>The output projection with b_v moved into its bias: o·W_oᵀ + (W_o b_v + b_o).</summary>
    public static torch.Tensor Project(Linear proj, torch.Tensor o, torch.Tensor valueBias)
    {
        using var bias = torch.addmv(proj.bias!, proj.weight!, valueBias.to(proj.weight!.dtype), 1, 1);
        return torch.nn.functional.linear(o, proj.weight!, bias);
    }
}
