namespace Tessera.IO;

/// <summary>
/// A module whose older checkpoints stored some tensors under other names or shapes. Loaders pass a
/// checkpoint's tensors through <see cref="Checkpoint.UpgradeLegacy"/> before checking them against the
/// module, so an old file still loads while new files hold only the current layout.
/// </summary>
public interface ILegacyTensors
{
    /// <summary>Rewrites, in <paramref name="tensors"/>, this module's entries (names starting with <paramref name="prefix"/>) from an older layout to the current one; leaves current entries alone.</summary>
    void UpgradeLegacyTensors(IDictionary<string, torch.Tensor> tensors, string prefix);
}
