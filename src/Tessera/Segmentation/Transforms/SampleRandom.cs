namespace Tessera.Segmentation.Transforms;

/// <summary>
/// The random numbers of one sample's augmentation: a SplitMix64 stream seeded from (seed, step,
/// position in the batch) alone, so a sample is augmented the same way whichever thread decodes it,
/// in whatever order, and after a resume.
/// </summary>
public struct SampleRandom
{
    private SplitMix64 _rng;

    /// <summary>The stream of sample <paramref name="sample"/> of step <paramref name="step"/> under <paramref name="seed"/>.</summary>
    public SampleRandom(ulong seed, long step, int sample)
    {
        // Three rounds of SplitMix64's finaliser over the key, so nearby keys give unrelated streams.
        var mix = new SplitMix64(seed ^ 0x5EED5EED5EED5EEDUL);
        ulong key = mix.Next() ^ (ulong)step;
        mix = new SplitMix64(key);
        key = mix.Next() ^ (ulong)(uint)sample;
        _rng = new SplitMix64(new SplitMix64(key).Next());
    }

    /// <summary>A stream from a raw state (tests).</summary>
    public SampleRandom(ulong state) => _rng = new SplitMix64(state);

    /// <summary>Uniform in [0, 1) with 53 random bits (numpy's random_sample).</summary>
    public double NextDouble() => (_rng.Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [<paramref name="low"/>, <paramref name="high"/>) (numpy's uniform).</summary>
    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [<paramref name="low"/>, <paramref name="high"/>) (numpy's randint, high exclusive).</summary>
    public int Int(int low, int high)
    {
        if (high <= low) throw new ArgumentOutOfRangeException(nameof(high), $"empty range [{low}, {high})");
        return low + (int)_rng.NextBelow((ulong)(high - low));
    }

    /// <summary>True with probability one half (numpy's randint(2)).</summary>
    public bool Coin() => Int(0, 2) == 1;
}
