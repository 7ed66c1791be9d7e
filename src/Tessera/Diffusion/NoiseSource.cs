namespace Tessera.Diffusion;

/// <summary>Where a stochastic sampler gets its standard-normal draws.</summary>
public interface INoiseSource
{
    /// <summary>A standard-normal tensor shaped, typed and placed like <paramref name="like"/>.</summary>
    torch.Tensor Next(torch.Tensor like);
}

/// <summary>I.i.d. draws from one libtorch generator (on the tensor's device).</summary>
public sealed class GeneratorNoise : INoiseSource, IDisposable
{
    private readonly torch.Generator _generator;

    /// <summary>A fresh generator seeded with <paramref name="seed"/> on <paramref name="device"/>.</summary>
    public GeneratorNoise(long seed, torch.Device? device = null) => _generator = new torch.Generator((ulong)seed, device ?? torch.CPU);

    /// <inheritdoc />
    public torch.Tensor Next(torch.Tensor like) => torch.randn(like.shape, like.dtype, like.device, generator: _generator);

    /// <summary>Frees the generator.</summary>
    public void Dispose() => _generator.Dispose();
}

/// <summary>
/// One generator per sample, so that sample i gets the same noise whatever the batch size or its
/// position in the batch: row i of every draw comes from the generator seeded with seeds[i].
/// </summary>
public sealed class PerSampleNoise : INoiseSource
{
    private readonly torch.Generator[] _generators;

    /// <summary>Generators seeded with <paramref name="seeds"/> (one per row of the batch).</summary>
    public PerSampleNoise(IReadOnlyList<long> seeds, torch.Device? device = null) =>
        _generators = seeds.Select(s => new torch.Generator((ulong)s, device ?? torch.CPU)).ToArray();

    /// <summary>Seeds base, base + 1, … for <paramref name="count"/> samples.</summary>
    public static PerSampleNoise Consecutive(long first, int count, torch.Device? device = null) =>
        new(Enumerable.Range(0, count).Select(i => first + i).ToArray(), device);

    /// <inheritdoc />
    public torch.Tensor Next(torch.Tensor like)
    {
        if (like.shape[0] != _generators.Length) throw new ArgumentException($"batch of {like.shape[0]} but {_generators.Length} per-sample generators");
        long[] rowShape = like.shape[1..];
        var rows = new torch.Tensor[_generators.Length];
        for (int i = 0; i < rows.Length; i++) rows[i] = torch.randn(rowShape, like.dtype, like.device, generator: _generators[i]);
        var result = torch.stack(rows);
        foreach (var r in rows) r.Dispose();
        return result;
    }
}

/// <summary>Replays recorded draws in order (for parity with a reference run).</summary>
public sealed class ReplayNoise(IReadOnlyList<torch.Tensor> draws) : INoiseSource
{
    private int _next;

    /// <summary>Replays the slices of <paramref name="stacked"/> along its first dimension.</summary>
    public static ReplayNoise FromStacked(torch.Tensor stacked) =>
        new(Enumerable.Range(0, (int)stacked.shape[0]).Select(i => stacked[i]).ToArray());

    /// <inheritdoc />
    public torch.Tensor Next(torch.Tensor like)
    {
        if (_next >= draws.Count) throw new InvalidOperationException($"all {draws.Count} recorded draws were used");
        var d = draws[_next++];
        if (!d.shape.SequenceEqual(like.shape)) throw new InvalidOperationException($"recorded draw {_next - 1} has shape [{string.Join(", ", d.shape)}], sampler asked for [{string.Join(", ", like.shape)}]");
        return d.to(like.dtype, like.device);
    }
}
