namespace Tessera.Diffusion.Analytic;

/// <summary>
/// Sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015): the root mean over random unit
/// directions θ of the squared W₂ distance between the 1-D projections, which for equal-size samples is
/// the mean squared difference of the sorted projections.
/// </summary>
public static class SlicedWasserstein
{
    /// <summary>SW₂ between samples a [N, d] and b [N, d] over <paramref name="projections"/> directions drawn from <paramref name="generator"/>.</summary>
    public static double Distance(torch.Tensor a, torch.Tensor b, int projections, torch.Generator generator)
    {
        if (a.shape[0] != b.shape[0] || a.shape[1] != b.shape[1]) throw new ArgumentException("SW2 needs samples of equal size and dimension");
        using var target = new SlicedWassersteinTarget(b, projections, generator);
        return target.Distance(a);
    }

    /// <summary>The unit directions θ [d, projections] drawn from <paramref name="generator"/>.</summary>
    internal static torch.Tensor Directions(long dim, int projections, torch.Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        var theta = torch.randn([dim, projections], torch.ScalarType.Float64, generator: generator);
        return (theta / theta.norm(0, keepdim: true)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The projections x·θ [N, projections] sorted along the samples. Each direction is sorted as one contiguous row by
    /// .NET's sort (2–3× faster than libtorch's sort of the strided columns, which also sorts an index tensor) and
    /// returned in the [N, projections] layout, so every value and the order of the final mean are those of sorting the
    /// columns with <c>torch.sort</c>: the sorted values are the same whatever the algorithm (a NaN, which the two place at
    /// opposite ends, makes the distance NaN either way).
    /// </summary>
    internal static torch.Tensor SortedProjections(torch.Tensor x, torch.Tensor theta)
    {
        using var scope = torch.NewDisposeScope();
        var projected = x.to(torch.ScalarType.Float64).matmul(theta).t().contiguous().cpu();   // [projections, N]
        int rows = (int)projected.shape[0], n = (int)projected.shape[1];
        double[] values = projected.data<double>().ToArray();
        for (int p = 0; p < rows; p++) values.AsSpan(p * n, n).Sort();
        return torch.tensor(values, [rows, n], torch.ScalarType.Float64).t().contiguous().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A fixed sample set b [N, d] with its directions and sorted projections computed once, for many SW₂ distances to it
/// (<see cref="SlicedWasserstein"/>; the same numbers as <see cref="SlicedWasserstein.Distance"/> with a generator of the
/// same seed).
/// </summary>
public sealed class SlicedWassersteinTarget : IDisposable
{
    private readonly torch.Tensor _theta;
    private readonly torch.Tensor _sorted;

    /// <summary>Projects and sorts <paramref name="b"/> on <paramref name="projections"/> directions drawn from <paramref name="generator"/>.</summary>
    public SlicedWassersteinTarget(torch.Tensor b, int projections, torch.Generator generator)
    {
        // Kept past any dispose scope of the caller's: the target is reused run after run.
        _theta = SlicedWasserstein.Directions(b.shape[1], projections, generator).DetachFromDisposeScope();
        _sorted = SlicedWasserstein.SortedProjections(b, _theta).DetachFromDisposeScope();
    }

    /// <summary>The target with the directions drawn from a fresh generator seeded with <paramref name="seed"/>.</summary>
    public static SlicedWassersteinTarget Seeded(torch.Tensor b, int projections, ulong seed)
    {
        using var generator = new torch.Generator(seed);
        return new SlicedWassersteinTarget(b, projections, generator);
    }

    /// <summary>SW₂ between <paramref name="a"/> [N, d] and the target.</summary>
    /// <exception cref="ArgumentException">Not the target's size and dimension.</exception>
    public double Distance(torch.Tensor a)
    {
        if (a.shape[0] != _sorted.shape[0] || a.shape[1] != _theta.shape[0]) throw new ArgumentException("SW2 needs samples of equal size and dimension");
        using var scope = torch.NewDisposeScope();
        var pa = SlicedWasserstein.SortedProjections(a, _theta);
        return (pa - _sorted).Squared().mean().sqrt().item<double>();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _theta.Dispose();
        _sorted.Dispose();
    }
}
