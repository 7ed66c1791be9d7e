namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>Loads SAM 2 modules from a checkpoint's name → tensor map, by their official key prefixes.</summary>
internal static class Sam2Weights
{
    /// <summary>
    /// Copies the tensors named <paramref name="prefix"/> + a parameter name of <paramref name="module"/> into it,
    /// strictly: every parameter must be present with its shape, and no other key may carry the prefix.
    /// <paramref name="source"/> names the checkpoint in messages.
    /// </summary>
    /// <exception cref="TesseraFormatException">A tensor missing, unexpected or of another shape.</exception>
    public static void Load(torch.nn.Module module, IReadOnlyDictionary<string, torch.Tensor> tensors, string prefix, string source)
    {
        var mine = tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        var state = module.state_dict();
        Checkpoint.Validate(source, state, mine);
        using (torch.no_grad())
            foreach (var (name, target) in state) target.copy_(mine[name]);
    }

    /// <summary>A key's shape in <paramref name="tensors"/>, or null (for the configurations' <c>FromWeights</c>).</summary>
    public static Func<string, long[]?> Shapes(IReadOnlyDictionary<string, torch.Tensor> tensors) =>
        key => tensors.TryGetValue(key, out var t) ? t.shape : null;
}
