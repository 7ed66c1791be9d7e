namespace Tessera.Segmentation.Sam.Data;

/// <summary>
/// labelme annotations: one JSON per image (every <c>*.json</c> under the folder), <c>imagePath</c> relative to
/// the JSON, shapes of type <c>polygon</c> (3 or more points) or <c>rectangle</c> (two opposite corners).
/// Shapes sharing a label and a non-null <c>group_id</c> form one object, as labelme's own export does; the label
/// <c>__ignore__</c> marks a region to leave out of the loss. Shapes are rasterised as the COCO polygons that
/// labelme2coco would write (<see cref="CocoMask.FromPolygon"/>; a rectangle as cocoapi's <c>rleFrBbox</c>).
/// Categories are the labels in ordinal order, numbered from 1.
/// </summary>
public sealed class LabelmeInstances : InstanceDataset
{
    /// <summary>The label of ignore regions.</summary>
    public const string IgnoreLabel = "__ignore__";

    private sealed record Shape(long Id, string Label, bool Ignore, List<double[]> Parts);

    private sealed record Entry(string Json, string Image, int Height, int Width, List<Shape> Objects);

    private readonly List<AnnotatedImage> _images;

    private LabelmeInstances(string root, List<AnnotatedImage> images, List<InstanceCategory> categories) : base(root, categories) => _images = images;

    /// <inheritdoc />
    public override int Count => _images.Count;

    /// <inheritdoc />
    public override InstanceImage this[int index] => _images[index].Rasterise();

    /// <summary>Reads every labelme JSON under <paramref name="root"/> (sorted by path).</summary>
    /// <exception cref="TesseraFormatException">A malformed file or shape, or an image that does not exist.</exception>
    public static LabelmeInstances Open(string root)
    {
        if (!Directory.Exists(root)) throw new TesseraUserException($"{root}: labelme folder not found");
        var files = Directory.EnumerateFiles(root, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new TesseraUserException($"{root}: no labelme .json files");
        var items = files.Select(ReadChecked).ToList();
        var labels = items.SelectMany(i => i.Objects).Where(s => !s.Ignore).Select(s => s.Label).Distinct().Order(StringComparer.Ordinal);
        List<InstanceCategory> categories = [.. labels.Select((l, i) => new InstanceCategory(i + 1, l))];
        var ids = categories.ToDictionary(c => c.Name, c => c.Id);
        // Image ids are the files' places in the listing; an ignore region has no category.
        var images = items.Select((it, i) => new AnnotatedImage(i, it.Image, it.Height, it.Width,
            [.. it.Objects.Select(s => new AnnotatedObject(s.Id, s.Ignore ? 0 : ids[s.Label], s.Ignore, s.Parts, null))])).ToList();
        return new LabelmeInstances(root, images, categories);
    }

    private static Entry ReadChecked(string json)
    {
        try
        {
            return ReadFile(json);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or KeyNotFoundException or OverflowException or IndexOutOfRangeException)
        {
            // A value of the wrong JSON kind or range (a shape that is a number, a size of 1.5, text that is not UTF-8).
            throw new TesseraFormatException(json, $"malformed labelme file ({e.Message})", e);
        }
    }

    private static Entry ReadFile(string json)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(json)); }
        catch (JsonException e) { throw new TesseraFormatException(json, $"not valid JSON ({e.Message})"); }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("imagePath", out var ip) || ip.ValueKind != JsonValueKind.String)
                throw new TesseraFormatException(json, "no \"imagePath\"; a labelme annotation expected");
            string image = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(json))!, ip.GetString()!.Replace('\\', '/')));
            if (!File.Exists(image)) throw new TesseraFormatException(json, $"imagePath {ip.GetString()} does not exist ({image})");
            int h, w;
            if (r.TryGetProperty("imageHeight", out var hh) && hh.ValueKind == JsonValueKind.Number && r.TryGetProperty("imageWidth", out var ww) && ww.ValueKind == JsonValueKind.Number)
                (h, w) = (hh.GetInt32(), ww.GetInt32());
            else
                (w, h) = ImageIO.ReadSize(image);
            if (h <= 0 || w <= 0) throw new TesseraFormatException(json, $"image size {h}×{w}; positive imageHeight and imageWidth expected");
            if (!r.TryGetProperty("shapes", out var shapes) || shapes.ValueKind != JsonValueKind.Array) throw new TesseraFormatException(json, "no \"shapes\" list");
            var objects = new List<Shape>();
            var groups = new Dictionary<(string, long), Shape>();
            int k = 0;
            foreach (var s in shapes.EnumerateArray())
            {
                string where = $"shape {k}";
                string label = s.TryGetProperty("label", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()! : throw new TesseraFormatException(json, $"{where}: no label");
                string type = s.TryGetProperty("shape_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "polygon";
                if (!s.TryGetProperty("points", out var pts) || pts.ValueKind != JsonValueKind.Array) throw new TesseraFormatException(json, $"{where} ({label}): no points");
                var points = new List<double>();
                foreach (var p in pts.EnumerateArray())
                {
                    if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2 || p[0].ValueKind != JsonValueKind.Number || p[1].ValueKind != JsonValueKind.Number)
                        throw new TesseraFormatException(json, $"{where} ({label}): a point is not [x, y]");
                    points.Add(p[0].GetDouble());
                    points.Add(p[1].GetDouble());
                }
                if (points.Any(v => !(Math.Abs(v) <= CocoMask.MaxCoordinate)))
                    throw new TesseraFormatException(json, $"{where} ({label}): a coordinate is not a number within ±{CocoMask.MaxCoordinate:0} pixels");
                double[] polygon = type switch
                {
                    "polygon" when points.Count >= 6 => [.. points],
                    "polygon" => throw new TesseraFormatException(json, $"{where} ({label}): polygon with {points.Count / 2} points; at least 3 expected"),
                    "rectangle" when points.Count == 4 => Rectangle(points[0], points[1], points[2], points[3]),
                    "rectangle" => throw new TesseraFormatException(json, $"{where} ({label}): rectangle with {points.Count / 2} points; 2 corners expected"),
                    _ => throw new TesseraFormatException(json, $"{where} ({label}): shape_type {type} is not an area; polygon or rectangle expected"),
                };
                long? group = s.TryGetProperty("group_id", out var g) && g.ValueKind == JsonValueKind.Number ? g.GetInt64() : null;
                if (group is { } gid && groups.TryGetValue((label, gid), out var existing)) existing.Parts.Add(polygon);
                else
                {
                    var shape = new Shape(k, label, label == IgnoreLabel, [polygon]);
                    objects.Add(shape);
                    if (group is { } gid2) groups[(label, gid2)] = shape;
                }
                k++;
            }
            return new Entry(json, image, h, w, objects);
        }
    }

    // cocoapi's rleFrBbox: corners (x0, y0), (x0, y1), (x1, y1), (x1, y0).
    private static double[] Rectangle(double xa, double ya, double xb, double yb)
    {
        double x0 = Math.Min(xa, xb), x1 = Math.Max(xa, xb), y0 = Math.Min(ya, yb), y1 = Math.Max(ya, yb);
        return [x0, y0, x0, y1, x1, y1, x1, y0];
    }
}
