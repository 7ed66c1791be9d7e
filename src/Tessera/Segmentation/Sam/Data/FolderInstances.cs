using Tessera.Segmentation.Sam.Inference;

namespace Tessera.Segmentation.Sam.Data;

/// <summary>
/// A folder of images with per-image instance-index PNGs, as <c>tessera seg make-dataset</c> writes it:
/// <c>images/NAME.(png|jpg|…)</c> and <c>instances/NAME.png</c> (8-bit gray or palette; 0 background,
/// 1–254 one object each, 255 a region to ignore). Where <c>labels/NAME.png</c> exists, an object's category
/// is the label most of its pixels carry (255 and ties to the smaller label aside); otherwise 0.
/// </summary>
public sealed class FolderInstances : InstanceDataset
{
    /// <summary>Instance value of ignore regions.</summary>
    public const byte IgnoreValue = 255;

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];
    private readonly List<(string Image, string Instances, string? Labels)> _items;

    private FolderInstances(string root, List<(string, string, string?)> items) : base(root, []) => _items = items;

    /// <inheritdoc />
    public override int Count => _items.Count;

    /// <inheritdoc />
    public override InstanceImage this[int index]
    {
        get
        {
            var (image, instancesPath, labelsPath) = _items[index];
            var map = LabelPng.Read(instancesPath);
            var labels = labelsPath is null ? null : LabelPng.Read(labelsPath);
            if (labels is not null && (labels.Width != map.Width || labels.Height != map.Height))
                throw new TesseraFormatException(labelsPath!, $"label map is {labels.Height}×{labels.Width}, its instance map {map.Height}×{map.Width}");
            int h = map.Height, w = map.Width;
            var present = new SortedSet<int>();
            foreach (byte v in map.Labels) if (v != 0) present.Add(v);
            var objects = new List<InstanceObject>();
            foreach (int id in present)
            {
                var mask = new bool[h * w];
                var votes = new int[256];
                for (int i = 0; i < mask.Length; i++)
                    if (map.Labels[i] == id)
                    {
                        mask[i] = true;
                        if (labels is not null) votes[labels.Labels[i]]++;
                    }
                votes[255] = 0;
                int category = labels is null ? 0 : Array.IndexOf(votes, votes.Max());
                objects.Add(new InstanceObject(id, id == IgnoreValue ? 0 : category, id == IgnoreValue, MaskRle.Encode(mask, h, w)));
            }
            return new InstanceImage(index, image, h, w, objects);
        }
    }

    /// <summary>Pairs <c>images/</c> with <c>instances/</c> by file name (sorted).</summary>
    /// <exception cref="TesseraFormatException">A missing folder, or an image without its instance PNG or the reverse.</exception>
    public static FolderInstances Open(string root)
    {
        string images = Path.Combine(root, "images"), instances = Path.Combine(root, "instances"), labels = Path.Combine(root, "labels");
        if (!Directory.Exists(images) || !Directory.Exists(instances))
            throw new TesseraUserException($"{root}: expected images/ and instances/ folders (as tessera seg make-dataset writes them)");
        var byStem = new Dictionary<string, string>();
        foreach (string f in Directory.EnumerateFiles(images).Order(StringComparer.Ordinal))
        {
            if (!ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())) continue;
            string stem = Path.GetFileNameWithoutExtension(f);
            if (!byStem.TryAdd(stem, f)) throw new TesseraFormatException(f, $"two images named {stem} (also {byStem[stem]}); names must be unique without extension");
        }
        var items = new List<(string, string, string?)>();
        foreach (var (stem, image) in byStem.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string inst = Path.Combine(instances, stem + ".png");
            if (!File.Exists(inst)) throw new TesseraFormatException(image, $"no instance map {inst}");
            string lab = Path.Combine(labels, stem + ".png");
            items.Add((image, inst, File.Exists(lab) ? lab : null));
        }
        foreach (string f in Directory.EnumerateFiles(instances, "*.png"))
            if (!byStem.ContainsKey(Path.GetFileNameWithoutExtension(f))) throw new TesseraFormatException(f, "instance map without an image of the same name in images/");
        if (items.Count == 0) throw new TesseraUserException($"{images}: no images");
        return new FolderInstances(root, items);
    }
}
