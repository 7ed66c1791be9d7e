namespace Tessera.Runtime;

/// <summary>
/// An <see cref="IProgress{T}"/> that runs its action at once on the thread that reports. The library's long calls report
/// values whose tensors live only during the call (a sampler's step); <see cref="Progress{T}"/> would run the action later
/// on another thread, when they are gone.
/// </summary>
/// <param name="report">What to do with each value.</param>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => report(value);
}
