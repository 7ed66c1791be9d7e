using Tessera.Segmentation.Inference;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>The files of a prompted prediction: the best mask as <c>OUT</c> (0/255 PNG), every mask as <c>OUT.i.png</c> when asked, and <c>OUT.overlay.png</c>.</summary>
public static class SamMaskFiles
{
    /// <summary>Writes <paramref name="prediction"/> of <paramref name="rgb"/> ([3, H, W]) to <paramref name="path"/> and beside it; returns the overlay's path.</summary>
    public static string Write(string path, SamPrediction prediction, torch.Tensor rgb, bool everyMask)
    {
        string output = Path.GetFullPath(path);
        string stem = Path.Combine(Path.GetDirectoryName(output)!, Path.GetFileNameWithoutExtension(output));
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        using var scope = torch.NewDisposeScope();
        var best = prediction.Masks[prediction.Best];
        ImageIO.SavePng(best.to(torch.ScalarType.Byte).mul(255).unsqueeze(0), output);
        if (everyMask)
            for (int i = 0; i < prediction.Masks.shape[0]; i++) ImageIO.SavePng(prediction.Masks[i].to(torch.ScalarType.Byte).mul(255).unsqueeze(0), $"{stem}.{i}.png");
        ImageIO.SavePng(MaskOverlay.Masks(rgb, [best]), stem + ".overlay.png");
        return stem + ".overlay.png";
    }
}
