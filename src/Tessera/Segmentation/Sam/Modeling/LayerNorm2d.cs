namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Layer normalisation over the channel axis of an NCHW map (SAM's <c>LayerNorm2d</c>, as in ConvNeXt):
/// x̂ = (x − mean_c x)/√(var_c x + ε), then weight·x̂ + bias per channel.
/// </summary>
public sealed class LayerNorm2d : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly double _eps;

    /// <summary>Creates the layer for <paramref name="channels"/> channels.</summary>
    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        weight = new Parameter(torch.ones(channels));
        bias = new Parameter(torch.zeros(channels));
        _eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var u = x.mean([1], keepdim: true);
        var s = (x - u).pow(2).mean([1], keepdim: true);
        using var eps = _eps.ToScalar(); // held for the call: see PositionEmbeddingRandom.forward
        var normed = (x - u) / (s + eps).sqrt();
        return (weight.view(-1, 1, 1) * normed + bias.view(-1, 1, 1)).MoveToOuterDisposeScope();
    }

    /// <summary>The same normalisation of a channels-last map [..., C]: libtorch's fused layer norm over the last axis.</summary>
    public torch.Tensor ForwardChannelsLast(torch.Tensor x) =>
        torch.nn.functional.layer_norm(x, [weight.shape[0]], weight, bias, _eps);
}
