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
        return layers[^1].forward(Hidden(x)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <paramref name="residual"/> + MLP(x), a block's residual around its MLP: in inference the last layer's product
    /// accumulates into residual + b (<see cref="ResidualLinear"/>).
    /// </summary>
    internal torch.Tensor Residual(torch.Tensor x, torch.Tensor residual)
    {
        using var scope = torch.NewDisposeScope();
        var last = layers[^1];
        return ResidualLinear.Apply(residual, Hidden(x), last.weight!, last.bias, -1).MoveToOuterDisposeScope();
    }

    // Every layer but the last, each followed by the activation; in inference in place (the layer's output is fresh), a
    // GELU layer's bias added in the GELU's pass (ErfGelu: libtorch's linear copies the bias into its output first).
    private torch.Tensor Hidden(torch.Tensor x)
    {
        for (int i = 0; i < layers.Count - 1; i++)
        {
            var layer = layers[i];
            bool inference = NoGradient.For(x, layer.weight, layer.bias);
            if (!inference) x = _activation == MlpActivation.Relu ? functional.relu(layer.forward(x)) : functional.gelu(layer.forward(x));
            else if (_activation == MlpActivation.Relu) x = layer.forward(x).relu_();
            else x = layer.bias is { } b ? ErfGelu.InPlace(functional.linear(x, layer.weight!), b, -1) : ErfGelu.InPlace(layer.forward(x));
        }
        return x;
    }
}
