namespace Tessera.Positional;

/// <summary>
/// ALiBi (Press et al. 2022): attention logits get −m_h·|i − j|, with head slopes m_h forming a geometric
/// sequence: for n a power of two, m_h = 2^(−8h/n), h = 1 … n; otherwise the slopes of the largest power of
/// two below n, followed by every other slope of twice that power (the paper's reference code).
/// </summary>
public static class Alibi
{
    /// <summary>The slopes for <paramref name="heads"/> heads.</summary>
    public static double[] Slopes(int heads)
    {
        if (heads < 1) throw new TesseraUserException(nameof(heads), $"heads must be at least 1, got {heads}");
        static double[] PowerOfTwo(int n)
        {
            double start = Math.Pow(2, -Math.Pow(2, -(Math.Log2(n) - 3)));
            return Enumerable.Range(0, n).Select(i => start * Math.Pow(start, i)).ToArray();
        }
        if ((heads & (heads - 1)) == 0) return PowerOfTwo(heads);
        int closest = 1 << (int)Math.Floor(Math.Log2(heads));
        return [.. PowerOfTwo(closest), .. PowerOfTwo(2 * closest).Where((_, i) => i % 2 == 0).Take(heads - closest)];
    }

    /// <summary>
    /// The additive bias [1, H, q, k]: −m_h·|i − j| with query i at position offset + i and key j at j
    /// (symmetric), or, for causal models, −m_h·(i − j) (keys after the query are masked elsewhere).
    /// </summary>
    public static torch.Tensor Bias(int heads, long queryLength, long keyLength, long queryOffset = 0, bool symmetric = true, torch.Device? device = null, torch.ScalarType dtype = torch.ScalarType.Float32)
    {
        using var scope = torch.NewDisposeScope();
        var slopes = torch.tensor(Slopes(heads), dtype: torch.ScalarType.Float64, device: device).view(1, heads, 1, 1);
        var qi = torch.arange(queryOffset, queryOffset + queryLength, dtype: torch.ScalarType.Float64, device: device).view(-1, 1);
        var kj = torch.arange(0, keyLength, dtype: torch.ScalarType.Float64, device: device).view(1, -1);
        var dist = symmetric ? (qi - kj).abs() : (qi - kj);
        return (-slopes * dist.unsqueeze(0).unsqueeze(0)).to(dtype).MoveToOuterDisposeScope();
    }
}
