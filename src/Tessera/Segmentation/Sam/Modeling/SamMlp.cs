using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// The mask decoder's MLP of any depth with ReLU between layers (the official <c>mask_decoder.MLP</c>; its hypernetwork
/// and IoU heads are three layers deep), under the official key names <c>layers.0</c> … <c>layers.{depth-1}</c>; SAM 2's
/// Hiera blocks use it two layers deep with GELU (<c>sam2_utils.MLP</c>, the same layout). Not the
/// shared <see cref="Tessera.Layers.Mlp"/>: that block is exactly two layers (fc1, act, fc2), which SAM's image encoder
/// and two-way transformer use under their key names <c>lin1</c>/<c>lin2</c>.
/// </summary>
public sealed class SamMlp : Module<torch.Tensor, torch.Tensor>
{
    private readonly ModuleList<Linear> layers;
    private readonly MlpActivation _activation;

    /// <summary>Creates an MLP of <paramref name="depth"/> linear layers with <paramref name="activation"/> between them (ReLU or exact GELU).</summary>
    public SamMlp(int input, int hidden, int output, int depth, MlpActivation activation = MlpActivation.Relu) : base(nameof(SamMlp))
    {
        _activation = activation;
        var sizes = new List<int> { input };
        sizes.AddRange(Enumerable.Repeat(hidden, depth - 1));
        sizes.Add(output);
        layers = new ModuleList<Linear>([.. Enumerable.Range(0, depth).Select(i => Linear(sizes[i], sizes[i + 1]))]);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        for (int i = 0; i < layers.Count; i++)
        {
            x = layers[i].forward(x);
            // In place in inference: the layer's output is fresh, and one activation-sized tensor less is allocated.
            if (i < layers.Count - 1) x = x.requires_grad ? (_activation == MlpActivation.Relu ? functional.relu(x) : functional.gelu(x)) : (_activation == MlpActivation.Relu ? x.relu_() : x.gelu_());
        }
        return x.MoveToOuterDisposeScope();
    }
}
