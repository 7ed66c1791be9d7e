using TorchSharp;
using TorchSharp.Modules;

namespace Tessera.Layers;

/// <summary>The activation between the two layers of an <see cref="Mlp"/>.</summary>
public enum MlpActivation
{
    /// <summary>GELU, x·Φ(x) (Hendrycks and Gimpel 2016).</summary>
    Gelu,
    /// <summary>GELU's tanh approximation (DiT's <c>approx_gelu</c>).</summary>
    GeluTanh,
}

/// <summary>
/// The transformer's position-wise feed-forward block (Vaswani et al. 2017, eq. 2, with GELU): fc2(act(fc1(x))),
/// as timm's <c>layers.Mlp</c>, with its key names <c>fc1</c> and <c>fc2</c>. The one MLP block of the library:
/// DiT and the length-generalisation transformer use it.
/// </summary>
public sealed class Mlp : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly MlpActivation _activation;

    /// <summary>Creates the block: <paramref name="features"/> → <paramref name="hidden"/> → <paramref name="outFeatures"/> (default: <paramref name="features"/>).</summary>
    public Mlp(int features, int hidden, int? outFeatures = null, MlpActivation activation = MlpActivation.Gelu) : base(nameof(Mlp))
    {
        fc1 = torch.nn.Linear(features, hidden);
        fc2 = torch.nn.Linear(hidden, outFeatures ?? features);
        _activation = activation;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = torch.nn.functional.gelu(fc1.forward(x), _activation == MlpActivation.GeluTanh ? GELU.Approximate.tanh : GELU.Approximate.none, false);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
