using Tessera.IO;
using Tessera.Segmentation.Inference;
using TorchSharp;

namespace Tessera.Segmentation.Sam;

/// <summary>The outputs of automatic masks for one image: <c>masks/NNN.png</c> (0/255, largest first), <c>overlay.png</c> and <c>masks.json</c>.</summary>
public static class AutomaticMasksFolder
{
    /// <summary>
    /// Writes <paramref name="masks"/> of <paramref name="rgb"/> ([3, H, W]) into <paramref name="folder"/>, ordered by
    /// area (largest first); returns them in that order.
    /// </summary>
    public static List<AmgMask> Write(string folder, torch.Tensor rgb, IReadOnlyList<AmgMask> masks, MaskJsonFormat format = MaskJsonFormat.CocoRle)
    {
        List<AmgMask> sorted = [.. masks.OrderByDescending(m => m.Area)];
        Directory.CreateDirectory(Path.Combine(folder, "masks"));
        int h = (int)rgb.shape[1], w = (int)rgb.shape[2];
        var tensors = new List<torch.Tensor>();
        try
        {
            for (int i = 0; i < sorted.Count; i++)
            {
                var t = torch.tensor(sorted[i].Segmentation.Decode(), [h, w]);
                tensors.Add(t);
                ImageIO.SavePng(t.to(torch.ScalarType.Byte).mul(255).unsqueeze(0), Path.Combine(folder, "masks", $"{i:D3}.png"));
            }
            ImageIO.SavePng(MaskOverlay.Masks(rgb, tensors), Path.Combine(folder, "overlay.png"));
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
        AutomaticMasksJson.Write(Path.Combine(folder, "masks.json"), sorted, format);
        return sorted;
    }
}
