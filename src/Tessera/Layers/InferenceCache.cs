namespace Tessera.Layers;

/// <summary>
/// A module that keeps tensors derived from its weights for inference (folded BatchNorm, for one). The cache is a
/// snapshot: whatever changes the weights in place must clear it. The library's checkpoint loaders do, and
/// <c>train()</c>/<c>eval()</c> and any forward pass with gradients enabled clear it too.
/// </summary>
public interface IInferenceCache
{
    /// <summary>Drops the derived tensors; the next inference pass recomputes them from the current weights.</summary>
    void ClearInferenceCache();
}

/// <summary>Clears the inference caches of a module tree.</summary>
public static class InferenceCaches
{
    /// <summary>Clears the cache of <paramref name="module"/> and of every module below it that keeps one.</summary>
    public static void Clear(torch.nn.Module module)
    {
        if (module is IInferenceCache self) self.ClearInferenceCache();
        foreach (var (_, m) in module.named_modules())
            if (m is IInferenceCache cache) cache.ClearInferenceCache();
    }
}
