namespace Tessera.Server;

/// <summary>Answer to an image upload.</summary>
/// <param name="Id">Handle of the image for predict and auto (a hash of its bytes: the same file gets the same id).</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Cached">True when the embedding was already cached (nothing was computed).</param>
/// <param name="EncodeMs">Time spent in the image encoder.</param>
public sealed record SamImageResponse(string Id, int Width, int Height, bool Cached, double EncodeMs);

/// <summary>A prompt for <c>POST /api/sam/predict</c>.</summary>
/// <param name="Id">Image id from the upload.</param>
/// <param name="Points">Clicks [x, y, label] in image pixels; label 1 = object, 0 = background (default 1).</param>
/// <param name="Box">A box [x0, y0, x1, y1] in image pixels.</param>
/// <param name="Multimask">Three candidate masks (for an ambiguous single click); default: true for one point and no box.</param>
/// <param name="MaskInput">A <c>logits</c> handle from an earlier prediction of this image, to refine it.</param>
public sealed record SamPredictRequest(string? Id, double[][]? Points = null, double[]? Box = null, bool? Multimask = null, string? MaskInput = null);

/// <summary>A COCO run-length encoding (column-major, compressed string counts).</summary>
/// <param name="Size">[height, width].</param>
/// <param name="Counts">pycocotools' compressed string.</param>
public sealed record CocoRle(int[] Size, string Counts);

/// <summary>One predicted mask.</summary>
/// <param name="Png">0/255 gray PNG at the image size, base64.</param>
/// <param name="Rle">The same mask as COCO RLE.</param>
/// <param name="Score">Predicted IoU.</param>
/// <param name="Area">Pixels in the mask.</param>
/// <param name="Logits">Handle of this mask's low-resolution logits, to send as <c>mask_input</c> with the next click.</param>
public sealed record SamMask(string Png, CocoRle Rle, double Score, long Area, string Logits);

/// <summary>Answer of <c>POST /api/sam/predict</c>.</summary>
/// <param name="Masks">One mask, or three candidates.</param>
/// <param name="Best">Index of the highest predicted IoU.</param>
/// <param name="DecodeMs">Time in the prompt encoder and mask decoder.</param>
public sealed record SamPredictResponse(SamMask[] Masks, int Best, double DecodeMs);

/// <summary>Options of <c>POST /api/sam/auto</c> (the official generator's defaults when absent).</summary>
/// <param name="Id">Image id.</param>
/// <param name="PointsPerSide">Point grid N × N (default 32).</param>
/// <param name="PointsPerBatch">Prompts decoded at once (default 64).</param>
/// <param name="PredIouThresh">Keep masks with predicted IoU above this (default 0.88).</param>
/// <param name="StabilityScoreThresh">Keep masks at least this stable (default 0.95).</param>
/// <param name="BoxNmsThresh">Box IoU for duplicate removal (default 0.7).</param>
/// <param name="CropNLayers">Extra layers of crops (default 0).</param>
/// <param name="MinMaskRegionArea">Remove holes and islands smaller than this (default 0).</param>
public sealed record SamAutoRequest(string? Id, int? PointsPerSide = null, int? PointsPerBatch = null, double? PredIouThresh = null,
    double? StabilityScoreThresh = null, double? BoxNmsThresh = null, int? CropNLayers = null, int? MinMaskRegionArea = null);

/// <summary>One annotation in the SA-1B format.</summary>
/// <param name="Segmentation">The mask.</param>
/// <param name="Area">Pixels.</param>
/// <param name="Bbox">[x, y, w, h].</param>
/// <param name="PredictedIou">Predicted IoU.</param>
/// <param name="PointCoords">The prompt point [[x, y]].</param>
/// <param name="StabilityScore">Stability score.</param>
/// <param name="CropBox">[x, y, w, h] of the crop.</param>
public sealed record SamAnnotation(CocoRle Segmentation, long Area, int[] Bbox, double PredictedIou, double[][] PointCoords, double StabilityScore, int[] CropBox);

/// <summary>Answer of <c>POST /api/sam/auto</c>.</summary>
/// <param name="Annotations">Masks, largest first.</param>
/// <param name="OverlayPng">All masks blended over the image, PNG base64.</param>
/// <param name="Ms">Time taken.</param>
public sealed record SamAutoResponse(SamAnnotation[] Annotations, string OverlayPng, double Ms);

/// <summary>An error: one line.</summary>
/// <param name="Error">What was wrong.</param>
/// <param name="Code">Machine-readable reason where a client may act on it (<c>evicted</c>, <c>busy</c>).</param>
public sealed record ErrorResponse(string Error, string? Code = null);
