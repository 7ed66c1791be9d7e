namespace Tessera.Segmentation.Models;

/// <summary>What sits where GCN-Net's GCN modules are (the paper's Table 1–2 ablations).</summary>
public enum GcnVariant
{
    /// <summary>The GCN module (k×1 + 1×k separable branches).</summary>
    Gcn,
    /// <summary>A trivial k × k convolution (Table 1, "conv").</summary>
    FullKernel,
    /// <summary>Stacked 3 × 3 convolutions of about the GCN's parameter count ((k − 1)/2 layers; Table 2).</summary>
    Stacked3x3,
}
