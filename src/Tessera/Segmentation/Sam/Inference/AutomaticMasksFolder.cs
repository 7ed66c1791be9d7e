using Tessera.Segmentation.Inference;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>
/// The outputs of automatic masks for one image viewed by eye: <c>masks/NNN.png</c> (0/255, largest first), <c>overlay.png</c>
/// and <c>masks.json</c> (the records of <see cref="AmgJson"/> with ids, indented). For files as the official amg.py writes
/// them, over one image or many, see <see cref="AutomaticMaskRun"/>.
/// </summary>
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
                tensors.Add(torch.tensor(sorted[i].Segmentation.Decode(), [h, w]));
                AmgPngFolder.SavePng(sorted[i].Segmentation, Path.Combine(folder, "masks", $"{i:D3}.png"));
            }
            ImageIO.SavePng(MaskOverlay.Masks(rgb, tensors), Path.Combine(folder, "overlay.png"));
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
        AmgJson.Write(Path.Combine(folder, "masks.json"), sorted, format, ids: true, indented: true);
        return sorted;
    }
}
