namespace Tessera.Runtime;

/// <summary>
/// A network run at a lower <see cref="Precision"/> behind a float32 interface (issue 28): its floating-point weights
/// and buffers converted once, each input converted to that type on the way in and the output to float32 on the way
/// out. Inside, libtorch's kernels for bfloat16/float16 inputs accumulate normalisation statistics and softmax in
/// float32, as PyTorch's CPU autocast runs them.
/// </summary>
internal sealed class PrecisionNetwork : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> net;

    /// <summary>Converts <paramref name="network"/> in place to <paramref name="precision"/> and wraps it (registered as <c>net</c>).</summary>
    public PrecisionNetwork(torch.nn.Module<torch.Tensor, torch.Tensor> network, Precision precision) : base(nameof(PrecisionNetwork))
    {
        net = network;
        Precision = precision;
        PrecisionInfo.Apply(network, precision);
        RegisterComponents();
    }

    /// <summary>The precision the wrapped network runs at.</summary>
    public Precision Precision { get; }

    /// <summary>The wrapped network's output, in float32, for a float32 input.</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return net.forward(x.to(PrecisionInfo.ScalarType(Precision))).to(torch.ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
