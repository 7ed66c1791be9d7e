using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// Global Convolutional Network module (Peng et al. 2017, "Large Kernel Matters", Fig. 2B): two branches,
/// k×1 then 1×k, and 1×k then k×1, summed; no BatchNorm or ReLU inside, so a k × k receptive field costs
/// O(2k) instead of O(k²) parameters per channel pair.
/// </summary>
public sealed class GcnModule : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d left1, left2, right1, right2;

    /// <summary>Kernel size k (odd).</summary>
    public int K { get; }

    /// <summary>Creates the module mapping <paramref name="inChannels"/> to <paramref name="outChannels"/>.</summary>
    public GcnModule(int inChannels, int outChannels, int k) : base(nameof(GcnModule))
    {
        if (k < 1 || k % 2 == 0) throw new TesseraUserException(nameof(k), $"GCN kernel size must be odd, got {k}");
        K = k;
        int p = (k - 1) / 2;
        left1 = Conv2d(inChannels, outChannels, (k, 1), padding: (p, 0));
        left2 = Conv2d(outChannels, outChannels, (1, k), padding: (0, p));
        right1 = Conv2d(inChannels, outChannels, (1, k), padding: (0, p));
        right2 = Conv2d(outChannels, outChannels, (k, 1), padding: (p, 0));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return (left2.forward(left1.forward(x)) + right2.forward(right1.forward(x))).MoveToOuterDisposeScope();
    }
}
