namespace Tessera.Layers;

/// <summary>
/// Whether a layer's call may take an inference-only path (in place, reordered sums): its input needs no gradient and,
/// while autograd records, none of its parameters does. A model's parameters keep <c>requires_grad</c> in inference; under
/// <c>torch.no_grad()</c> they need none.
/// </summary>
internal static class NoGradient
{
    /// <summary>True when <paramref name="x"/> needs no gradient and autograd is off or none of <paramref name="parameters"/> (null ones skipped) needs one.</summary>
    public static bool For(torch.Tensor x, params torch.Tensor?[] parameters) =>
        !x.requires_grad && (!torch.is_grad_enabled() || parameters.All(p => p is null || !p.requires_grad));
}
