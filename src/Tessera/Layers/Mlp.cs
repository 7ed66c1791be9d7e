namespace Tessera.Layers;

/// <summary>The activation between the two layers of an <see cref="Mlp"/>.</summary>
public enum MlpActivation
{
    /// <summary>GELU, x·Φ(x) (Hendrycks and Gimpel 2016).</summary>
    Gelu,
    /// <summary>GELU's tanh approximation (DiT's <c>approx_gelu</c>).</summary>
    GeluTanh,
    /// <summary>ReLU, max(x, 0) (SAM's two-way transformer).</summary>
    Relu,
}

/// <summary>
/// The transformer's position-wise feed-forward block (Vaswani et al. 2017, eq. 2, with GELU): fc2(act(fc1(x))),
/// as timm's <c>layers.Mlp</c>, with its key names <c>fc1</c> and <c>fc2</c> by default. The one MLP block of the library:
/// DiT, the length-generalisation transformer and SAM (encoder and two-way transformer, under SAM's official key names
/// <c>lin1</c>/<c>lin2</c>) use it.
/// </summary>
public sealed class Mlp : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly MlpActivation _activation;

    /// <summary>
    /// Creates the block: <paramref name="features"/> → <paramref name="hidden"/> → <paramref name="outFeatures"/> (default:
    /// <paramref name="features"/>); <paramref name="names"/> are the two layers' key names where a checkpoint format has its
    /// own (default <c>fc1</c>, <c>fc2</c>).
    /// </summary>
    public Mlp(int features, int hidden, int? outFeatures = null, MlpActivation activation = MlpActivation.Gelu, (string First, string Second)? names = null) : base(nameof(Mlp))
    {
        fc1 = torch.nn.Linear(features, hidden);
        fc2 = torch.nn.Linear(hidden, outFeatures ?? features);
        _activation = activation;
        var (first, second) = names ?? ("fc1", "fc2");
        register_module(first, fc1);
        register_module(second, fc2);
    }

    /// <summary>The layers are registered under their key names in the constructor, never again under the fields' names.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        // In inference the exact GELU takes fc1's bias in its own pass (ErfGelu: libtorch's linear copies the bias into
        // its output before the product).
        if (_activation == MlpActivation.Gelu && fc1.bias is { } b1 && NoGradient.For(x, fc1.weight, b1))
            return fc2.forward(ErfGelu.InPlace(torch.nn.functional.linear(x, fc1.weight!), b1, -1)).MoveToOuterDisposeScope();
        var h = fc1.forward(x);
        // In place in inference: fc1's output is fresh, and one hidden-sized tensor less is allocated.
        bool inPlace = !h.requires_grad;
        h = _activation switch
        {
            MlpActivation.Relu => torch.nn.functional.relu(h, inPlace),
            MlpActivation.Gelu when inPlace => ErfGelu.InPlace(h),
            _ => torch.nn.functional.gelu(h, _activation == MlpActivation.GeluTanh ? GELU.Approximate.tanh : GELU.Approximate.none, inPlace),
        };
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
