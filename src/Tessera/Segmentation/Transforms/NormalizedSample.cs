namespace Tessera.Segmentation.Transforms;

/// <summary>A sample ready for a model: the image as float planes [3, H, W] (normalised), the label one byte per pixel.</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Image">3 × Height × Width floats, channel-major (RGB).</param>
/// <param name="Label">Height × Width class indices (255 ignored).</param>
public sealed record NormalizedSample(int Width, int Height, float[] Image, byte[] Label);
