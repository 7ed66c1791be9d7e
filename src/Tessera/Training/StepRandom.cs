namespace Tessera.Training;

/// <summary>
/// Where a training run's randomness comes from. Every draw of a step is a function of (seed, step, micro-batch):
/// the step's generator is seeded with <see cref="SeedOf"/>, the SplitMix64 finaliser (Steele, Lea and Flood 2014)
/// of seed·φ ⊕ (step + 1)·c₁ ⊕ (micro + 1)·c₂, so a resumed run draws exactly what an uninterrupted one does.
/// Modules that draw from libtorch's global generator (dropout) do so inside <see cref="GlobalScope"/>, which
/// seeds that generator with <see cref="GlobalSeedOf"/> and restores its previous state afterwards, so no process-wide
/// state changes. Initialisation uses the same scope with <see cref="InitSeed"/>.
/// </summary>
public static class StepRandom
{
    /// <summary>The seed of micro-batch <paramref name="micro"/> of step <paramref name="step"/> in a run seeded <paramref name="seed"/>.</summary>
    public static ulong SeedOf(long seed, long step, int micro = 0) =>
        Mix((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(step + 1) * 0xD1B54A32D192ED03UL ^ (ulong)(micro + 1) * 0xAEF17502108EF2D9UL);

    /// <summary>The seed of the global generator during a micro-batch (for dropout): the complement of <see cref="SeedOf"/>, so it differs from the step's generator.</summary>
    public static ulong GlobalSeedOf(long seed, long step, int micro = 0) => ~SeedOf(seed, step, micro);

    /// <summary>The seed of the global generator while a model is initialised.</summary>
    public static ulong InitSeed(long seed) => (ulong)seed;

    /// <summary>The step's generator (CPU).</summary>
    public static torch.Generator Generator(long seed, long step, int micro = 0) => new(SeedOf(seed, step, micro));

    /// <summary>SplitMix64's output function.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Seeds libtorch's global CPU generator with <paramref name="seed"/> until the result is disposed, then
    /// restores the state it had: a <c>torch.random.fork_rng</c> for code (module initialisation, dropout) that
    /// cannot take a generator. Not for concurrent use with other code drawing from the global generator.
    /// </summary>
    public static IDisposable GlobalScope(ulong seed)
    {
        var saved = torch.random.get_rng_state();
        using (var g = new torch.Generator(seed))
        using (var state = g.get_state())
            torch.random.set_rng_state(state);
        return new Restore(saved);
    }

    /// <summary>Runs <paramref name="build"/> (e.g. a module constructor) with the global generator seeded by <paramref name="seed"/>, restoring it afterwards.</summary>
    public static T Seeded<T>(long seed, Func<T> build)
    {
        using var _ = GlobalScope(InitSeed(seed));
        return build();
    }

    private sealed class Restore(torch.Tensor saved) : IDisposable
    {
        public void Dispose()
        {
            torch.random.set_rng_state(saved);
            saved.Dispose();
        }
    }
}
