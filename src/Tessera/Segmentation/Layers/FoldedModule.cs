using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// A module whose convolution + BatchNorm pairs run folded in inference (<see cref="FoldedConvBatchNorm"/>), with the
/// cache rules every such module shares: the folded weights are dropped by <c>train</c>/<c>eval</c>, by
/// <see cref="ClearInferenceCache"/> and on disposal (a pass with gradients drops them itself).
/// </summary>
/// <param name="name">The module's name.</param>
public abstract class FoldedModule(string name) : Module<torch.Tensor, torch.Tensor>(name), IInferenceCache
{
    /// <summary>The module's conv + BatchNorm pairs.</summary>
    private protected abstract IEnumerable<FoldedConvBatchNorm> Folds { get; }

    /// <inheritdoc />
    public override void train(bool train = true)
    {
        base.train(train);
        ClearInferenceCache();
    }

    /// <inheritdoc />
    public void ClearInferenceCache()
    {
        foreach (var f in Folds) f.Clear();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) ClearInferenceCache();
        base.Dispose(disposing);
    }
}
