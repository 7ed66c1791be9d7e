using Tessera.Segmentation.Sam.Inference;

namespace Tessera.Segmentation.Sam.Data;

/// <summary>
/// COCO instances JSON (COCO 2017's layout: <c>annotations/instances_{split}.json</c>, images in <c>{split}/</c>):
/// polygons with one or more parts, uncompressed RLE (a <c>counts</c> list) and compressed RLE (a
/// <c>counts</c> string), <c>iscrowd</c> and categories. Masks are what pycocotools' <c>annToRLE</c> gives:
/// every polygon part rasterised by <see cref="CocoMask.FromPolygon"/> and the parts merged by union.
/// </summary>
public sealed class CocoInstances : InstanceDataset
{
    private readonly List<AnnotatedImage> _images;

    private CocoInstances(string source, List<AnnotatedImage> images, List<InstanceCategory> categories) : base(source, categories) => _images = images;

    /// <inheritdoc />
    public override int Count => _images.Count;

    /// <inheritdoc />
    public override InstanceImage this[int index] => _images[index].Rasterise();

    /// <summary>The union of the polygon parts, as pycocotools' <c>frPyObjects</c> followed by <c>merge</c>.</summary>
    public static MaskRle Rasterise(IReadOnlyList<double[]> parts, int height, int width) =>
        CocoMask.Merge([.. parts.Select(p => CocoMask.FromPolygon(p, height, width))]);

    /// <summary>Opens <c>root/annotations/instances_{split}.json</c> with images in <c>root/{split}/</c>.</summary>
    public static CocoInstances Open(string root, string split)
    {
        if (!Directory.Exists(root)) throw new TesseraUserException($"{root}: COCO dataset folder not found");
        string json = Path.Combine(root, "annotations", $"instances_{split}.json");
        if (!File.Exists(json)) throw new TesseraFormatException(json, $"COCO annotation file not found (expected {root}/annotations/instances_{split}.json for split {split})");
        return Load(json, Path.Combine(root, split));
    }

    /// <summary>Reads a COCO instances file whose <c>file_name</c>s are relative to <paramref name="imageDir"/>.</summary>
    /// <exception cref="TesseraFormatException">Malformed JSON or annotation, or an image without its file.</exception>
    public static CocoInstances Load(string json, string imageDir, bool requireImageFiles = true)
    {
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(json);
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TesseraFormatException(json, $"not valid JSON ({e.Message})");
        }
        using (doc)
        {
            try
            {
                var rootEl = doc.RootElement;
                if (rootEl.ValueKind != JsonValueKind.Object) throw new TesseraFormatException(json, "expected a JSON object with images, annotations and categories");
                var images = new List<AnnotatedImage>();
                var byId = new Dictionary<long, AnnotatedImage>();
                foreach (var el in Array(json, rootEl, "images", "the file"))
                {
                    long id = Int(json, el, "id", "an image");
                    string where = $"image {id}";
                    string file = el.TryGetProperty("file_name", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : throw new TesseraFormatException(json, $"{where}: no file_name");
                    int h = (int)Int(json, el, "height", where), w = (int)Int(json, el, "width", where);
                    if (h <= 0 || w <= 0) throw new TesseraFormatException(json, $"{where}: size {h}×{w}; positive height and width expected");
                    string path = Path.Combine(imageDir, file);
                    if (requireImageFiles && !File.Exists(path)) throw new TesseraFormatException(json, $"{where}: its file {path} does not exist");
                    var image = new AnnotatedImage(id, path, h, w, []);
                    if (!byId.TryAdd(id, image)) throw new TesseraFormatException(json, $"{where}: the id occurs twice");
                    images.Add(image);
                }
                var categories = new List<InstanceCategory>();
                if (rootEl.TryGetProperty("categories", out _))
                    foreach (var el in Array(json, rootEl, "categories", "the file"))
                    {
                        long id = Int(json, el, "id", "a category");
                        categories.Add(new InstanceCategory((int)id, el.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    }
                var categoryIds = categories.Select(c => c.Id).ToHashSet();
                foreach (var el in Array(json, rootEl, "annotations", "the file"))
                {
                    long id = Int(json, el, "id", "an annotation");
                    string where = $"annotation {id}";
                    long imageId = Int(json, el, "image_id", where);
                    if (!byId.TryGetValue(imageId, out var image)) throw new TesseraFormatException(json, $"{where}: image_id {imageId} is not among the images");
                    int category = el.TryGetProperty("category_id", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0;
                    if (categories.Count > 0 && !categoryIds.Contains(category)) throw new TesseraFormatException(json, $"{where}: category_id {category} is not among the categories");
                    bool crowd = el.TryGetProperty("iscrowd", out var ic) && ic.ValueKind == JsonValueKind.Number && ic.GetInt32() != 0;
                    if (!el.TryGetProperty("segmentation", out var seg)) throw new TesseraFormatException(json, $"{where}: no segmentation");
                    image.Objects.Add(seg.ValueKind switch
                    {
                        JsonValueKind.Array => new AnnotatedObject(id, category, crowd, Polygons(json, seg, where), null),
                        JsonValueKind.Object => new AnnotatedObject(id, category, crowd, null, Rle(json, seg, where, image.Height, image.Width)),
                        _ => throw new TesseraFormatException(json, $"{where}: segmentation must be a list of polygons or an RLE object"),
                    });
                }
                return new CocoInstances(json, images, categories);
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or KeyNotFoundException or OverflowException or IndexOutOfRangeException)
            {
                // A value of the wrong JSON kind or range (an id of 1.5, a string where a number belongs, text that is not UTF-8).
                throw new TesseraFormatException(json, $"malformed COCO annotation file ({e.Message})", e);
            }
        }
    }

    private static JsonElement.ArrayEnumerator Array(string json, JsonElement el, string name, string where) =>
        el.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : throw new TesseraFormatException(json, $"{where}: no \"{name}\" list");

    private static long Int(string json, JsonElement el, string name, string where)
    {
        if (el.ValueKind != JsonValueKind.Object) throw new TesseraFormatException(json, $"{where}: expected an object");
        if (!el.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number) throw new TesseraFormatException(json, $"{where}: no numeric \"{name}\"");
        if (v.TryGetInt64(out long i)) return i;
        double d = v.GetDouble();
        return d == Math.Floor(d) ? (long)d : throw new TesseraFormatException(json, $"{where}: \"{name}\" is {d}, an integer expected");
    }

    private static double[][] Polygons(string json, JsonElement seg, string where)
    {
        var parts = new List<double[]>();
        int k = 0;
        foreach (var part in seg.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Array) throw new TesseraFormatException(json, $"{where}: polygon part {k} is not a list of numbers");
            var xy = part.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN).ToArray();
            if (xy.Any(v => !double.IsFinite(v))) throw new TesseraFormatException(json, $"{where}: polygon part {k} holds a value that is not a finite number");
            if (xy.Any(v => Math.Abs(v) > CocoMask.MaxCoordinate)) throw new TesseraFormatException(json, $"{where}: polygon part {k} has a coordinate beyond ±{CocoMask.MaxCoordinate:0} pixels");
            if (xy.Length % 2 != 0) throw new TesseraFormatException(json, $"{where}: polygon part {k} has {xy.Length} coordinates; x, y pairs expected");
            if (xy.Length < 6) throw new TesseraFormatException(json, $"{where}: polygon part {k} has {xy.Length / 2} points; at least 3 expected");
            parts.Add(xy);
            k++;
        }
        if (parts.Count == 0) throw new TesseraFormatException(json, $"{where}: empty polygon list");
        return [.. parts];
    }

    private static MaskRle Rle(string json, JsonElement seg, string where, int h, int w)
    {
        if (!seg.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2)
            throw new TesseraFormatException(json, $"{where}: RLE without \"size\": [height, width]");
        int rh = size[0].GetInt32(), rw = size[1].GetInt32();
        if (rh != h || rw != w) throw new TesseraFormatException(json, $"{where}: RLE size {rh}×{rw} differs from its image's {h}×{w}");
        if (!seg.TryGetProperty("counts", out var counts)) throw new TesseraFormatException(json, $"{where}: RLE without \"counts\"");
        MaskRle rle;
        if (counts.ValueKind == JsonValueKind.String)
        {
            try { rle = MaskRle.FromCocoString(counts.GetString()!, h, w); }
            catch (FormatException e) { throw new TesseraFormatException(json, $"{where}: bad compressed RLE ({e.Message})"); }
        }
        else if (counts.ValueKind == JsonValueKind.Array)
        {
            var list = new long[counts.GetArrayLength()];
            int i = 0;
            foreach (var v in counts.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out list[i]) || list[i] < 0)
                    throw new TesseraFormatException(json, $"{where}: RLE count {i} is not a non-negative integer");
                i++;
            }
            rle = new MaskRle(h, w, list);
        }
        else throw new TesseraFormatException(json, $"{where}: RLE counts must be a list of integers or a string");
        long sum = 0;
        foreach (long c in rle.Counts)
        {
            if (c < 0) throw new TesseraFormatException(json, $"{where}: RLE has a negative run");
            sum += c;
        }
        if (sum != (long)h * w) throw new TesseraFormatException(json, $"{where}: RLE counts sum to {sum}, expected height·width = {(long)h * w}");
        return rle;
    }
}
