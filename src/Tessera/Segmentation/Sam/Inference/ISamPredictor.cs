namespace Tessera.Segmentation.Sam.Inference;

/// <summary>The model families a <see cref="ISamPredictor"/> runs.</summary>
public enum SamFamily
{
    /// <summary>Segment Anything (ViT-B/L/H) or MobileSAM (TinyViT): <see cref="SamPredictor"/>.</summary>
    Sam,
    /// <summary>SAM 2 / SAM 2.1 (Hiera): the SAM 2 image predictor.</summary>
    Sam2,
}

/// <summary>
/// Interactive promptable segmentation of one image, whatever the model family: set an image once (the image
/// encoder runs), then answer any number of prompts with the prompt encoder and mask decoder. The automatic mask
/// generator, the command line and the server take any implementation. Coordinates are in original-image pixels
/// unless a member says "model frame" (the coordinates the prompt encoder reads).
/// </summary>
public interface ISamPredictor : IDisposable
{
    /// <summary>The model family (the automatic mask generator follows that family's official code where they differ).</summary>
    SamFamily Family { get; }

    /// <summary>Original image size (h, w) of the current image.</summary>
    (int H, int W) OriginalSize { get; }

    /// <summary>The device the model and its outputs live on.</summary>
    torch.Device Device { get; }

    /// <summary>Logit threshold of a mask pixel.</summary>
    double MaskThreshold { get; }

    /// <summary>Size (h, w) of a low-resolution mask prompt and of the low-resolution logits.</summary>
    (int H, int W) MaskInputSize { get; }

    /// <summary>Sets the image: uint8 RGB [3, H, W] (as <c>ImageIO.Load(path, ColorMode.Rgb)</c> gives) or [H, W, 3] with <paramref name="channelsLast"/>.</summary>
    void SetImage(torch.Tensor rgb, bool channelsLast = false);

    /// <summary>Validates a prompt against the current image.</summary>
    /// <exception cref="TesseraUserException">The prompt does not fit the image; the message names the prompt's parameter.</exception>
    void Check(SamPrompt prompt);

    /// <summary>Predicts masks for one prompt on the current image.</summary>
    /// <exception cref="TesseraUserException">The prompt does not fit the image (see <see cref="Check"/>).</exception>
    SamPrediction Predict(SamPrompt prompt, bool multimask = true, bool returnLogits = false);

    /// <summary>Transforms a point of the original image into the model frame.</summary>
    (double X, double Y) ToModelFrame(double x, double y);

    /// <summary>
    /// The mask decoder alone on point prompts already in the model frame (coords [B, N, 2], labels [B, N]; optional
    /// low-resolution mask prompts [B, 1, h, w]): low-resolution logits [B, C, h, w] and IoUs [B, C].
    /// </summary>
    (torch.Tensor LowRes, torch.Tensor Iou) PredictLowRes(torch.Tensor coords, torch.Tensor labels, bool multimask = true, torch.Tensor? maskInput = null);

    /// <summary>Low-resolution logits [B, C, h, w] of the current image upscaled to its original size (logits [B, C, H, W]).</summary>
    torch.Tensor UpscaleLogits(torch.Tensor lowRes);
}
