namespace Tessera.Diffusion.Evaluation;

/// <summary>
/// The sufficient statistics of a feature set for the Fréchet distance, in float64: the count n, the sum
/// Σx [D] and the sum of outer products Σxxᵀ [D, D]. Statistics of disjoint parts add, so shards of a job
/// are merged exactly (up to float64 rounding); mean μ = Σx/n and unbiased covariance
/// Σ = (Σxxᵀ − n·μμᵀ)/(n − 1).
/// </summary>
public sealed class FeatureStatistics : IDisposable
{
    /// <summary>Number of feature vectors.</summary>
    public long Count { get; private set; }
    /// <summary>Σx, [D] float64 (CPU).</summary>
    public torch.Tensor Sum { get; }
    /// <summary>Σxxᵀ, [D, D] float64 (CPU).</summary>
    public torch.Tensor OuterSum { get; }
    /// <summary>Feature dimension D.</summary>
    public int Dimension => (int)Sum.shape[0];

    /// <summary>Empty statistics of dimension <paramref name="dimension"/>.</summary>
    public FeatureStatistics(int dimension)
    {
        Sum = torch.zeros(dimension, torch.ScalarType.Float64);
        OuterSum = torch.zeros(dimension, dimension, torch.ScalarType.Float64);
    }

    private FeatureStatistics(long count, torch.Tensor sum, torch.Tensor outer) => (Count, Sum, OuterSum) = (count, sum, outer);

    /// <summary>Adds features [N, D].</summary>
    public void Add(torch.Tensor features)
    {
        using var scope = torch.NewDisposeScope();
        var f = features.to(torch.ScalarType.Float64).cpu();
        if (f.dim() != 2 || f.shape[1] != Dimension) throw new ArgumentException($"features must be [N, {Dimension}]", nameof(features));
        Sum.add_(f.sum([0L]));
        OuterSum.add_(torch.matmul(f.t(), f));
        Count += f.shape[0];
    }

    /// <summary>Adds another part's statistics.</summary>
    public void Merge(FeatureStatistics other)
    {
        if (other.Dimension != Dimension) throw new ArgumentException($"cannot merge statistics of dimension {other.Dimension} into {Dimension}", nameof(other));
        Sum.add_(other.Sum);
        OuterSum.add_(other.OuterSum);
        Count += other.Count;
    }

    /// <summary>Mean [D] and unbiased covariance [D, D], float64.</summary>
    public (torch.Tensor Mean, torch.Tensor Covariance) MeanCovariance()
    {
        if (Count < 2) throw new TesseraUserException($"Fréchet statistics need at least 2 feature vectors, got {Count}");
        using var scope = torch.NewDisposeScope();
        var mu = Sum / Count;
        var cov = (OuterSum - Count * torch.outer(mu, mu)) / (Count - 1);
        return (mu.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    /// <summary>The Fréchet distance d² between these statistics and <paramref name="other"/>.</summary>
    public double FrechetDistanceTo(FeatureStatistics other)
    {
        var (m1, s1) = MeanCovariance();
        var (m2, s2) = other.MeanCovariance();
        using (m1) using (s1) using (m2) using (s2) return FrechetDistance.Compute(m1, s1, m2, s2);
    }

    /// <summary>Writes the statistics as safetensors (count in the metadata).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["format"] = "tessera.feature-statistics",
            ["count"] = Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        IO.SafeTensors.Save(path, new Dictionary<string, torch.Tensor> { ["sum"] = Sum, ["outer_sum"] = OuterSum }, meta);
    }

    /// <summary>Reads statistics written by <see cref="Save"/>.</summary>
    /// <exception cref="TesseraFormatException">The file holds no feature statistics.</exception>
    public static FeatureStatistics Load(string path)
    {
        using var file = IO.SafeTensors.Load(path);
        if (!file.Metadata.TryGetValue("format", out var f) || f != "tessera.feature-statistics"
            || !file.Metadata.TryGetValue("count", out var c) || !long.TryParse(c, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long count))
            throw new TesseraFormatException(path, "not Tessera feature statistics (metadata format/count missing)");
        if (!file.Tensors.TryGetValue("sum", out var sum) || !file.Tensors.TryGetValue("outer_sum", out var outer)
            || sum.dim() != 1 || outer.dim() != 2 || outer.shape[0] != sum.shape[0] || outer.shape[1] != sum.shape[0]
            || sum.dtype != torch.ScalarType.Float64 || outer.dtype != torch.ScalarType.Float64)
            throw new TesseraFormatException(path, "feature statistics need float64 'sum' [D] and 'outer_sum' [D, D]");
        return new FeatureStatistics(count, sum.clone(), outer.clone());
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Sum.Dispose();
        OuterSum.Dispose();
    }
}
