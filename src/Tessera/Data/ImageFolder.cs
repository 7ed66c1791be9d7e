namespace Tessera.Data;

/// <summary>How images of other sizes are brought to N×N.</summary>
public enum FitMode
{
    /// <summary>Scale the shorter side to N, then crop the centre (aspect ratio kept).</summary>
    [JsonStringEnumMemberName("crop")] ResizeAndCrop,
    /// <summary>Scale both sides to N (aspect ratio changes).</summary>
    Stretch,
    /// <summary>Crop the centre N×N without scaling; smaller images are an error.</summary>
    [JsonStringEnumMemberName("center-crop")] CenterCrop,
    /// <summary>Every image must already be N×N; anything else is an error.</summary>
    [JsonStringEnumMemberName("none")] Exact,
}

/// <summary>Options for <see cref="ImageFolder"/>.</summary>
/// <param name="Size">Side length N of the square output.</param>
/// <param name="Color">Gray (1 channel) or RGB (3 channels).</param>
/// <param name="Fit">How other sizes are handled.</param>
public sealed record ImageFolderOptions(int Size, ColorMode Color = ColorMode.Rgb, FitMode Fit = FitMode.ResizeAndCrop);

/// <summary>
/// A folder of images (PNG, JPEG, BMP, GIF, WebP), searched recursively. When the folder has
/// sub-folders, each sub-folder is a class (sorted by name, as torchvision's ImageFolder); files
/// directly in the root are then class 0 only if there are no sub-folders.
/// </summary>
public sealed class ImageFolder
{
    private static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    /// <summary>The image files, sorted by path.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The class index of each file.</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>Class names (sub-folder names); one entry "" when the folder has no sub-folders.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The options the folder was opened with.</summary>
    public ImageFolderOptions Options { get; }

    /// <summary>Opens a folder and lists its images.</summary>
    /// <exception cref="TesseraUserException">The folder is missing, empty, or holds a file that is not an image.</exception>
    public ImageFolder(string folder, ImageFolderOptions options)
    {
        if (options.Size < 1) throw new TesseraUserException(nameof(options), "Size must be at least 1");
        if (!Directory.Exists(folder)) throw new TesseraUserException($"{folder}: folder not found");
        Options = options;
        string[] subfolders = Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        var files = new List<string>();
        var labels = new List<int>();
        if (subfolders.Length == 0)
        {
            Classes = [""];
            Collect(folder, 0, files, labels);
        }
        else
        {
            Classes = subfolders.Select(Path.GetFileName).Select(n => n ?? "").ToArray();
            for (int i = 0; i < subfolders.Length; i++) Collect(subfolders[i], i, files, labels);
        }
        if (files.Count == 0) throw new TesseraUserException($"{folder}: no images found (PNG, JPEG, BMP, GIF or WebP)");
        Files = files;
        Labels = labels;
    }

    private static void Collect(string folder, int label, List<string> files, List<int> labels)
    {
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
        {
            if (Path.GetFileName(file).StartsWith('.')) continue;
            if (!Extensions.Contains(Path.GetExtension(file)))
                throw new TesseraFormatException(file, "not an image file (expected .png, .jpg, .jpeg, .bmp, .gif or .webp)");
            files.Add(file);
            labels.Add(label);
        }
    }

    /// <summary>Number of images.</summary>
    public int Count => Files.Count;

    /// <summary>Loads image <paramref name="index"/> as float32 [C, N, N] in [0, 1].</summary>
    public torch.Tensor Get(int index)
    {
        string path = Files[index];
        using var scope = torch.NewDisposeScope();
        var fitted = Fit(ImageIO.ToTensor(ImageIO.Decode(path), Options.Color), path);
        return fitted.to(torch.ScalarType.Float32).div_(255f).MoveToOuterDisposeScope();
    }

    /// <summary>Loads every image into one float32 tensor [count, C, N, N] in [0, 1], with labels int64 [count].</summary>
    public (torch.Tensor Images, torch.Tensor Labels) LoadAll(IProgress<int>? progress = null)
    {
        var images = new torch.Tensor[Count];
        try
        {
            for (int i = 0; i < Count; i++)
            {
                images[i] = Get(i);
                progress?.Report(i + 1);
            }
            return (torch.stack(images), torch.tensor(Labels.Select(l => (long)l).ToArray()));
        }
        finally
        {
            foreach (var t in images) t?.Dispose();
        }
    }

    // Brings uint8 [C, H, W] to [C, N, N]; scaling is Pillow's bilinear resize (as torchvision's Resize on a PIL image).
    private torch.Tensor Fit(torch.Tensor image, string path)
    {
        int n = Options.Size, h = (int)image.shape[1], w = (int)image.shape[2];
        switch (Options.Fit)
        {
            case FitMode.Exact:
                if (w != n || h != n) throw new TesseraFormatException(path, $"image is {w}x{h}, expected {n}x{n} (choose a resize mode to accept other sizes)");
                return image;
            case FitMode.Stretch:
                return Resize(image, n, n);
            case FitMode.CenterCrop:
                if (w < n || h < n) throw new TesseraFormatException(path, $"image is {w}x{h}, smaller than the {n}x{n} crop");
                return Crop(image, (w - n) / 2, (h - n) / 2, n);
            default:
                double scale = (double)n / Math.Min(w, h);
                int sw = Math.Max(n, (int)Math.Round(w * scale)), sh = Math.Max(n, (int)Math.Round(h * scale));
                return Crop(Resize(image, sw, sh), (sw - n) / 2, (sh - n) / 2, n);
        }
    }

    private static torch.Tensor Resize(torch.Tensor image, int w, int h)
    {
        int c = (int)image.shape[0], ih = (int)image.shape[1], iw = (int)image.shape[2];
        if (ih == h && iw == w) return image;
        byte[] hwc = image.permute(1, 2, 0).contiguous().bytes.ToArray();
        return torch.tensor(PilBilinear.Resize(hwc, ih, iw, c, h, w), [h, w, c]).permute(2, 0, 1);
    }

    private static torch.Tensor Crop(torch.Tensor image, int x, int y, int n) => image[.., y..(y + n), x..(x + n)];
}
