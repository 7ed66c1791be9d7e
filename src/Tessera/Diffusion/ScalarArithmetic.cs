namespace Tessera.Diffusion;

/// <summary>
/// Tensor arithmetic that leaves no native Scalar to the finalizer. TorchSharp 0.107 turns every number in an
/// expression (<c>t * 0.3</c>, <c>t / σ</c>, <c>clamp_min(0)</c>) into a native Scalar, and <c>a + b</c> makes one for
/// its α = 1; only the finalizer frees them (dotnet/TorchSharp#1434). Between the 2 MiB tensors of a sampler's steps
/// thousands of these small blocks fragment the native heap: a 80-step Euler run on [4096, 64] float64 states grew the
/// resident set by about 1 GB, run after run, until a garbage collection happened to run the finalizers. These
/// helpers call the same TorchSharp methods as the operators (so the same ATen kernels and bit for bit the same
/// results), with the α = 1 Scalar shared and every other Scalar disposed as soon as the call returns.
/// </summary>
internal static class ScalarArithmetic
{
    // Shared, never disposed: the α of a + b (TorchSharp passes the int 1, so does this), the exponent of square()
    // (TorchSharp's square() is pow(2)) and the 0 of clamp_min.
    private static readonly Scalar One = 1.ToScalar();
    private static readonly Scalar Two = 2.ToScalar();
    private static readonly Scalar Zero = 0.ToScalar();
    private static readonly Scalar MinusOne = (-1).ToScalar();

    /// <summary>a + b (the operator's add with α = 1).</summary>
    public static torch.Tensor Plus(this torch.Tensor a, torch.Tensor b) => a.add(b, One);

    /// <summary>a − b (ATen's sub is add with α = −1, so this is the operator's result bit for bit).</summary>
    public static torch.Tensor Minus(this torch.Tensor a, torch.Tensor b) => a.add(b, MinusOne);

    /// <summary>a + c for a number c.</summary>
    public static torch.Tensor Plus(this torch.Tensor a, double c)
    {
        using var s = c.ToScalar();
        return a.add(s, One);
    }

    /// <summary>a · c.</summary>
    public static torch.Tensor Times(this torch.Tensor a, double c)
    {
        using var s = c.ToScalar();
        return a.mul(s);
    }

    /// <summary>a / c.</summary>
    public static torch.Tensor Over(this torch.Tensor a, double c)
    {
        using var s = c.ToScalar();
        return a.div(s);
    }

    /// <summary>a², element-wise (TorchSharp's <c>square()</c>, which is <c>pow(2)</c>).</summary>
    public static torch.Tensor Squared(this torch.Tensor a) => a.pow(Two);

    /// <summary>max(a, 0) in place.</summary>
    public static torch.Tensor ClampMinZero_(this torch.Tensor a) => a.clamp_min_(Zero);
}

/// <summary>Scalars made for one step and disposed together.</summary>
internal sealed class ScalarBag : IDisposable
{
    private readonly List<Scalar> _made = [];

    /// <summary>A Scalar of <paramref name="value"/>, disposed with the bag.</summary>
    public Scalar Of(double value)
    {
        var s = value.ToScalar();
        _made.Add(s);
        return s;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _made) s.Dispose();
        _made.Clear();
    }
}
