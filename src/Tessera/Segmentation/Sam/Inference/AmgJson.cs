namespace Tessera.Segmentation.Sam.Inference;

/// <summary>How <see cref="AmgJson"/> writes each mask's segmentation.</summary>
public enum MaskJsonFormat
{
    /// <summary>COCO's compressed RLE string (<c>{"size": [h, w], "counts": "…"}</c>), as SAM's amg.py writes it.</summary>
    [JsonStringEnumMemberName("coco_rle")]
    CocoRle,

    /// <summary>Uncompressed RLE: the run lengths as numbers (column-major, starting with a background run).</summary>
    [JsonStringEnumMemberName("uncompressed_rle")]
    UncompressedRle,

    /// <summary>No RLE: the file name of the mask PNG, <c>masks/NNN.png</c>.</summary>
    [JsonStringEnumMemberName("binary_mask")]
    BinaryMask,
}

/// <summary>
/// The one writer of automatic-mask records as JSON: SA-1B's annotation fields in the official key order
/// (segmentation, area, bbox, predicted_iou, point_coords, stability_score, crop_box), floats as Python writes them —
/// the list amg.py's <c>--convert-to-rle</c> writes per image, and (with ids) the <c>masks.json</c> of one image.
/// </summary>
public static class AmgJson
{
    /// <summary>
    /// Writes <paramref name="masks"/> as a JSON list to <paramref name="path"/>, atomically.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="masks">The masks, in the order written.</param>
    /// <param name="format">How each segmentation is written.</param>
    /// <param name="ids">Whether each record starts with <c>id</c>, its index in the list.</param>
    /// <param name="indented">Whether the JSON is indented (for reading by eye) or compact (as amg.py's).</param>
    public static void Write(string path, IReadOnlyList<AmgMask> masks, MaskJsonFormat format = MaskJsonFormat.CocoRle, bool ids = false, bool indented = false)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
            w.WriteStartArray();
            for (int i = 0; i < masks.Count; i++) WriteRecord(w, masks[i], i, format, ids);
            w.WriteEndArray();
        });
    }

    /// <summary>
    /// Writes the record (an object) of mask number <paramref name="index"/> to <paramref name="w"/>; with <paramref name="id"/>
    /// the index is its first field, <c>id</c> (a <see cref="MaskJsonFormat.BinaryMask"/> segmentation names its PNG by it either way).
    /// </summary>
    public static void WriteRecord(Utf8JsonWriter w, AmgMask m, int index, MaskJsonFormat format = MaskJsonFormat.CocoRle, bool id = false)
    {
        w.WriteStartObject();
        if (id) w.WriteNumber("id", index);
        if (format == MaskJsonFormat.BinaryMask) w.WriteString("segmentation", $"masks/{index:D3}.png");
        else
        {
            w.WriteStartObject("segmentation");
            w.WriteStartArray("size");
            w.WriteNumberValue(m.Segmentation.Height);
            w.WriteNumberValue(m.Segmentation.Width);
            w.WriteEndArray();
            if (format == MaskJsonFormat.CocoRle) w.WriteString("counts", m.Segmentation.ToCocoString());
            else
            {
                w.WriteStartArray("counts");
                foreach (var c in m.Segmentation.Counts) w.WriteNumberValue(c);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteNumber("area", m.Area);
        w.WriteStartArray("bbox");
        foreach (int v in m.BoxXywh) w.WriteNumberValue(v);
        w.WriteEndArray();
        w.WritePropertyName("predicted_iou");
        w.WriteRawValue(PyFloat(m.PredictedIou));
        w.WriteStartArray("point_coords");
        w.WriteStartArray();
        foreach (double v in m.PointCoords) w.WriteRawValue(PyFloat(v));
        w.WriteEndArray();
        w.WriteEndArray();
        w.WritePropertyName("stability_score");
        w.WriteRawValue(PyFloat(m.StabilityScore));
        w.WriteStartArray("crop_box");
        foreach (int v in m.CropBoxXywh) w.WriteNumberValue(v);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A double as Python's <c>str</c>/<c>repr</c> writes it for ordinary magnitudes: shortest round trip, "16.0" for integers, "1e-05" exponents.</summary>
    public static string PyFloat(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "Infinity" : "-Infinity";
        string s = v.ToString("R", CultureInfo.InvariantCulture);
        if (s.Contains('E')) return s.Replace('E', 'e');
        return s.Contains('.') ? s : s + ".0";
    }
}
