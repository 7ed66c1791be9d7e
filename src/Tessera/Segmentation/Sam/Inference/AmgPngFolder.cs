namespace Tessera.Segmentation.Sam.Inference;

/// <summary>
/// The one writer of automatic masks as a folder of PNGs, as the official amg.py's <c>write_masks_to_folder</c>:
/// <c>0.png</c>, <c>1.png</c>, … (0/255) and <c>metadata.csv</c> in the official columns, written last.
/// </summary>
public static class AmgPngFolder
{
    /// <summary>The official metadata.csv header.</summary>
    public const string MetadataHeader = "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h";

    /// <summary>The file whose presence means the folder is complete.</summary>
    public const string MetadataFile = "metadata.csv";

    /// <summary>Writes <paramref name="masks"/> into <paramref name="folder"/> (each file atomically, metadata.csv last).</summary>
    public static void Write(string folder, IReadOnlyList<AmgMask> masks)
    {
        Directory.CreateDirectory(folder);
        var lines = new List<string> { MetadataHeader };
        for (int i = 0; i < masks.Count; i++)
        {
            var m = masks[i];
            SavePng(m.Segmentation, Path.Combine(folder, $"{i}.png"));
            lines.Add(string.Join(",", [i.ToString(CultureInfo.InvariantCulture), m.Area.ToString(CultureInfo.InvariantCulture),
                .. m.BoxXywh.Select(v => v.ToString(CultureInfo.InvariantCulture)), .. m.PointCoords.Select(AmgJson.PyFloat),
                AmgJson.PyFloat(m.PredictedIou), AmgJson.PyFloat(m.StabilityScore), .. m.CropBoxXywh.Select(v => v.ToString(CultureInfo.InvariantCulture))]));
        }
        AtomicFile.WriteAllText(Path.Combine(folder, MetadataFile), string.Join("\n", lines));
    }

    /// <summary>Writes one mask as a single-channel PNG, 255 inside and 0 outside.</summary>
    public static void SavePng(MaskRle mask, string path)
    {
        var bits = mask.Decode();
        var bytes = new byte[bits.Length];
        for (int p = 0; p < bits.Length; p++) bytes[p] = bits[p] ? (byte)255 : (byte)0;
        using var t = torch.tensor(bytes, [1, mask.Height, mask.Width]);
        ImageIO.SavePng(t, path);
    }
}
