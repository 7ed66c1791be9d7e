namespace Tessera.Server;

/// <summary>One class's share of a predicted label map.</summary>
/// <param name="Class">Class index (the model's label; the label PNG stores it in the checkpoint's convention, class + 1 for reduce_zero_label datasets such as ADE20K).</param>
/// <param name="Name">Class name, as the checkpoint recorded it.</param>
/// <param name="Color">Overlay colour, #rrggbb, as the checkpoint recorded it.</param>
/// <param name="Pixels">Pixels of the class.</param>
/// <param name="Share">Pixels / all pixels.</param>
public sealed record SegClassShare(int Class, string Name, string Color, long Pixels, double Share);

/// <summary>Answer of <c>POST /api/seg/predict</c>.</summary>
/// <param name="LabelsPng">Label PNG, byte for byte the file <c>tessera seg predict</c> writes for the image (the checkpoint's label convention), base64.</param>
/// <param name="OverlayPng">Half image, half class colours (as <c>tessera seg predict</c>'s overlays), PNG base64.</param>
/// <param name="Width">Width.</param>
/// <param name="Height">Height.</param>
/// <param name="Classes">Every class with its share (all classes, zero shares included, for the legend).</param>
/// <param name="Ms">Time taken.</param>
public sealed record SegPredictResponse(string LabelsPng, string OverlayPng, int Width, int Height, SegClassShare[] Classes, double Ms);
