namespace Tessera.Positional;

/// <summary>
/// T5's bucketed relative position bias (Raffel et al. 2020; Mesh TensorFlow's relative_position_bucket):
/// relative distance k − q maps to one of num_buckets buckets — exact buckets for small distances, then
/// logarithmic ones up to max_distance — and each (bucket, head) has a learned scalar bias.
/// </summary>
public sealed class T5RelativeBias : torch.nn.Module<long, long, torch.Tensor>
{
    private readonly Embedding bias;

    /// <summary>Number of buckets.</summary>
    public int NumBuckets { get; }

    /// <summary>Distance at which the logarithmic buckets end.</summary>
    public int MaxDistance { get; }

    /// <summary>Whether keys on both sides get distinct buckets (encoders) or only the past (decoders).</summary>
    public bool Bidirectional { get; }

    /// <summary>Creates the bias for <paramref name="heads"/> heads.</summary>
    public T5RelativeBias(int heads, bool bidirectional = true, int numBuckets = 32, int maxDistance = 128) : base(nameof(T5RelativeBias))
    {
        if (numBuckets < 2 || (bidirectional && numBuckets % 2 != 0)) throw new TesseraUserException(nameof(numBuckets), $"numBuckets must be at least 2 (and even when bidirectional), got {numBuckets}");
        (NumBuckets, MaxDistance, Bidirectional) = (numBuckets, maxDistance, bidirectional);
        bias = torch.nn.Embedding(numBuckets, heads);
        RegisterComponents();
    }

    /// <summary>Bucket of relative position (key − query), elementwise.</summary>
    public static torch.Tensor Bucket(torch.Tensor relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        using var scope = torch.NewDisposeScope();
        var buckets = torch.zeros_like(relativePosition);
        var n = relativePosition.clone();
        if (bidirectional)
        {
            numBuckets /= 2;
            buckets = buckets + (n > 0).to(torch.ScalarType.Int64) * numBuckets;
            n = n.abs();
        }
        else n = -torch.minimum(n, torch.zeros_like(n));
        int maxExact = numBuckets / 2;
        var isSmall = n < maxExact;
        // log(n / max_exact) / log(max_distance / max_exact) * (num_buckets − max_exact), in float32 as the reference.
        var large = (torch.log(n.to(torch.ScalarType.Float32) / maxExact) / (float)Math.Log((double)maxDistance / maxExact) * (numBuckets - maxExact)).to(torch.ScalarType.Int64) + maxExact;
        large = torch.minimum(large, torch.full_like(large, numBuckets - 1));
        return (buckets + torch.where(isSmall, n, large)).MoveToOuterDisposeScope();
    }

    /// <summary>Bucket for one relative position.</summary>
    public static int Bucket(long relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        using var t = torch.tensor(new[] { relativePosition });
        using var b = Bucket(t, bidirectional, numBuckets, maxDistance);
        return (int)b.item<long>();
    }

    /// <summary>The bias [1, H, q, k] for queries at positions offset … and keys at 0 ….</summary>
    public torch.Tensor forward(long queryLength, long keyLength, long queryOffset)
    {
        using var scope = torch.NewDisposeScope();
        var device = bias.weight!.device;
        var q = torch.arange(queryOffset, queryOffset + queryLength, device: device).view(-1, 1);
        var k = torch.arange(0, keyLength, device: device).view(1, -1);
        var buckets = Bucket(k - q, Bidirectional, NumBuckets, MaxDistance);
        return bias.forward(buckets).permute(2, 0, 1).unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(long queryLength, long keyLength) => forward(queryLength, keyLength, 0);
}
