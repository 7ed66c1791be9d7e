namespace Tessera.Training.Distributed;

/// <summary>
/// A differentiable sum over the ranks: the forward pass all-reduces its input, and the backward pass all-reduces the
/// incoming gradient, since every rank's loss depends on the sum (∂(Σᵣ Lᵣ)/∂xₖ = Σᵣ ∂Lᵣ/∂s for s = Σₖ xₖ). PyTorch's
/// torch.distributed.nn.functional.all_reduce is the same pair. Called through <see cref="Apply"/>; a collective in both
/// passes, so every rank must run the same forward and backward.
/// </summary>
internal sealed class AllReduceFunction : torch.autograd.SingleTensorFunction<AllReduceFunction>
{
    private const string CommunicatorKey = "communicator";

    /// <inheritdoc />
    public override string Name => "AllReduceSum";

    /// <summary>Σ over the ranks of <paramref name="input"/> (a float32/float64 tensor), differentiable.</summary>
    public static torch.Tensor Apply(torch.Tensor input, ICommunicator communicator) =>
        communicator.Size == 1 ? input : apply(input, communicator);

    /// <inheritdoc />
    public override torch.Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var communicator = (ICommunicator)vars[1];
        ctx.save_data(CommunicatorKey, communicator);
        var sum = ((torch.Tensor)vars[0]).detach().clone().contiguous();
        communicator.AllReduce(sum, ReduceOp.Sum);
        return sum;
    }

    /// <inheritdoc />
    public override List<torch.Tensor> backward(torch.autograd.AutogradContext ctx, torch.Tensor grad_output)
    {
        var communicator = (ICommunicator)ctx.get_data(CommunicatorKey);
        var grad = grad_output.contiguous().clone();
        communicator.AllReduce(grad, ReduceOp.Sum);
        return [grad, null!];
    }
}
