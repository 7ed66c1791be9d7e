namespace Tessera.Server;

/// <summary>One class's share of a predicted label map.</summary>
/// <param name="Class">Class index (the label PNG's value).</param>
/// <param name="Name">Class name.</param>
/// <param name="Color">Overlay colour, #rrggbb.</param>
/// <param name="Pixels">Pixels of the class.</param>
/// <param name="Share">Pixels / all pixels.</param>
public sealed record SegClassShare(int Class, string Name, string Color, long Pixels, double Share);

/// <summary>Answer of <c>POST /api/seg/predict</c>.</summary>
/// <param name="LabelsPng">Class-index PNG (as <c>tessera seg predict</c> writes), base64.</param>
/// <param name="OverlayPng">Half image, half class colours, PNG base64.</param>
/// <param name="Width">Width.</param>
/// <param name="Height">Height.</param>
/// <param name="Classes">Every class with its share (all classes, zero shares included, for the legend).</param>
/// <param name="Ms">Time taken.</param>
public sealed record SegPredictResponse(string LabelsPng, string OverlayPng, int Width, int Height, SegClassShare[] Classes, double Ms);
