namespace Tessera.Tests;

/// <summary>Sets libtorch's oneDNN kernels on or off for a test and restores the earlier state when disposed.</summary>
internal sealed class OneDnnSwitch : IDisposable
{
    private readonly bool? _before = OneDnn.Enabled;

    private OneDnnSwitch(bool enabled) => Switched = OneDnn.SetEnabled(enabled);

    /// <summary>Whether the switch was made (false where this libtorch has no oneDNN switch).</summary>
    public bool Switched { get; }

    /// <summary>oneDNN set to <paramref name="enabled"/> until disposal.</summary>
    public static OneDnnSwitch Set(bool enabled) => new(enabled);

    public void Dispose()
    {
        if (_before is bool b) OneDnn.SetEnabled(b);
    }
}
