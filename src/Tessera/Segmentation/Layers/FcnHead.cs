using Tessera.Training.Distributed;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>torchvision's FCNHead: conv3×3 (C → C/4), BN, ReLU, dropout 0.1, conv1×1 to the classes.</summary>
public sealed class FcnHead : Module<torch.Tensor, torch.Tensor>
{
    private readonly Sequential body;

    /// <summary>Creates the head.</summary>
    public FcnHead(int inChannels, int classes) : base(nameof(FcnHead))
    {
        int mid = Math.Max(1, inChannels / 4);
        body = Sequential(Conv2d(inChannels, mid, 3, padding: 1, bias: false), BatchNorms.Create(mid), ReLU(), Dropout(0.1), Conv2d(mid, classes, 1));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => body.forward(x);
}
