using System.Text.Json;
using Tessera.IO;

namespace Tessera.Segmentation.Sam;

/// <summary>How <see cref="AutomaticMasksJson"/> writes each mask's segmentation.</summary>
public enum MaskJsonFormat
{
    /// <summary>COCO's compressed RLE string (<c>{"size": [h, w], "counts": "…"}</c>), as SAM's amg.py writes it.</summary>
    CocoRle,

    /// <summary>Uncompressed RLE: the run lengths as numbers (column-major, starting with a background run).</summary>
    UncompressedRle,

    /// <summary>No RLE: the file name of the mask PNG, <c>masks/NNN.png</c>.</summary>
    BinaryMask,
}

/// <summary>The <c>masks.json</c> of automatic mask generation, with the fields of SAM's amg.py.</summary>
public static class AutomaticMasksJson
{
    /// <summary>
    /// Writes one record per mask, in order, with id (its index), segmentation (see <paramref name="format"/>), area,
    /// bbox (XYWH), predicted_iou, point_coords, stability_score and crop_box; atomically.
    /// </summary>
    public static void Write(string path, IReadOnlyList<AmgMask> masks, MaskJsonFormat format = MaskJsonFormat.CocoRle)
    {
        var json = masks.Select((m, i) => new Dictionary<string, object?>
        {
            ["id"] = i,
            ["segmentation"] = format switch
            {
                MaskJsonFormat.CocoRle => new Dictionary<string, object> { ["size"] = new[] { m.Segmentation.Height, m.Segmentation.Width }, ["counts"] = m.Segmentation.ToCocoString() },
                MaskJsonFormat.UncompressedRle => new Dictionary<string, object> { ["size"] = new[] { m.Segmentation.Height, m.Segmentation.Width }, ["counts"] = m.Segmentation.Counts },
                _ => $"masks/{i:D3}.png",
            },
            ["area"] = m.Area,
            ["bbox"] = m.BoxXywh,
            ["predicted_iou"] = m.PredictedIou,
            ["point_coords"] = new[] { m.PointCoords },
            ["stability_score"] = m.StabilityScore,
            ["crop_box"] = m.CropBoxXywh,
        }).ToList();
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(json, new JsonSerializerOptions { WriteIndented = true }));
    }
}
