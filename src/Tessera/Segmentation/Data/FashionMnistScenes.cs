namespace Tessera.Segmentation.Data;

/// <summary>Settings of <see cref="FashionMnistScenes"/>.</summary>
/// <param name="Canvas">Side of the square canvas in pixels.</param>
/// <param name="MinItems">Fewest items per scene.</param>
/// <param name="MaxItems">Most items per scene.</param>
/// <param name="MinScale">Smallest item size as a multiple of 28 px.</param>
/// <param name="MaxScale">Largest item size as a multiple of 28 px.</param>
/// <param name="IgnoreBand">Mark a 1-pixel band on every label boundary as 255 (ignored).</param>
/// <param name="Seed">Seed: scene i is a function of (Seed, split, i) alone.</param>
public sealed record SceneOptions(int Canvas = 64, int MinItems = 1, int MaxItems = 4, double MinScale = 0.8, double MaxScale = 1.6, bool IgnoreBand = false, ulong Seed = 0);

/// <summary>One batch of scenes.</summary>
/// <param name="Images">RGB float32 [N, 3, S, S] in [0, 1].</param>
/// <param name="Labels">Semantic labels int64 [N, S, S]: 0 background, 1 + class, 255 ignored.</param>
/// <param name="Instances">Instance ids uint8 [N, S, S]: 0 background, 1 … n in paint order.</param>
public sealed record SceneBatch(torch.Tensor Images, torch.Tensor Labels, torch.Tensor Instances) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
        Instances.Dispose();
    }
}

/// <summary>
/// "Fashion-MNIST scenes": deterministic composites of 1–4 Fashion-MNIST items, each scaled, tinted and
/// placed at random on a dark textured canvas, later items painted over earlier ones (z-order). Semantic
/// masks have 11 classes (background + the 10 Fashion-MNIST classes); instance masks number the items. An
/// item's mask is its pixels brighter than 20% after scaling. Training scenes use Fashion-MNIST's training
/// images, validation scenes its test images, so no item is shared.
/// </summary>
public sealed class FashionMnistScenes
{
    /// <summary>Class names, label order.</summary>
    public static readonly IReadOnlyList<string> ClassNames = ["background", .. FashionMnist.ClassNames];

    /// <summary>Number of classes (11).</summary>
    public const int NumClasses = 11;

    /// <summary>Display colours (RGB) per class, background black.</summary>
    public static readonly byte[][] Palette =
    [
        [0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
    ];

    private readonly FashionMnist _source;
    private readonly torch.Tensor _items; // float32 [M, 1, 28, 28]

    /// <summary>The options.</summary>
    public SceneOptions Options { get; }

    /// <summary>Which Fashion-MNIST split the items come from.</summary>
    public Split Split { get; }

    /// <summary>Uses the items of <paramref name="source"/> (its split decides train or validation).</summary>
    public FashionMnistScenes(FashionMnist source, SceneOptions options)
    {
        if (options.Canvas < 16) throw new TesseraUserException(nameof(options.Canvas), $"canvas must be at least 16 px, got {options.Canvas}");
        if (options.MinItems < 1 || options.MaxItems < options.MinItems) throw new TesseraUserException(nameof(options.MinItems), $"need 1 <= min items <= max items, got {options.MinItems}, {options.MaxItems}");
        if (!(options.MinScale > 0) || options.MaxScale < options.MinScale) throw new TesseraUserException(nameof(options.MinScale), "need 0 < min scale <= max scale");
        if (28 * options.MinScale > options.Canvas) throw new TesseraUserException(nameof(options.MinScale), $"items of {28 * options.MinScale:0} px do not fit a {options.Canvas} px canvas");
        _source = source;
        Split = source.Split;
        Options = options;
        _items = source.ImagesAsFloat();
    }

    /// <summary>Scenes first … first + count − 1.</summary>
    public SceneBatch Generate(long first, int count)
    {
        using var scope = torch.NewDisposeScope();
        int s = Options.Canvas;
        var images = new List<torch.Tensor>();
        var labels = new List<torch.Tensor>();
        var instances = new List<torch.Tensor>();
        for (long i = first; i < first + count; i++)
        {
            var (img, lab, inst) = Scene(i);
            images.Add(img);
            labels.Add(lab);
            instances.Add(inst);
        }
        return new SceneBatch(torch.stack(images).MoveToOuterDisposeScope(), torch.stack(labels).MoveToOuterDisposeScope(), torch.stack(instances).MoveToOuterDisposeScope());
    }

    private (torch.Tensor Image, torch.Tensor Label, torch.Tensor Instance) Scene(long index)
    {
        int s = Options.Canvas;
        var rng = new SplitMix64(Options.Seed * 0x9E3779B97F4A7C15UL ^ ((ulong)Split + 1) * 0xD6E8FEB86659FD93UL ^ (ulong)index * 0xBF58476D1CE4E5B9UL);
        double U() => (rng.Next() >> 11) * (1.0 / (1UL << 53));
        // Background: dark, with a faint gradient so that "dark" alone does not mean background.
        double g0 = 0.05 + 0.15 * U(), gx = 0.1 * (U() - 0.5), gy = 0.1 * (U() - 0.5);
        var ramp = torch.linspace(-1, 1, s);
        var bg = (ramp.view(1, -1) * gx + ramp.view(-1, 1) * gy + g0).clamp(0, 1);
        var image = bg.unsqueeze(0).expand(3, s, s).clone();
        var label = torch.zeros([s, s], torch.ScalarType.Int64);
        var instance = torch.zeros([s, s], torch.ScalarType.Byte);
        int n = Options.MinItems + (int)rng.NextBelow((ulong)(Options.MaxItems - Options.MinItems + 1));
        for (int k = 0; k < n; k++)
        {
            long item = (long)rng.NextBelow((ulong)_items.shape[0]);
            int size = (int)Math.Round(28 * (Options.MinScale + (Options.MaxScale - Options.MinScale) * U()));
            size = Math.Clamp(size, 4, s);
            int x = (int)rng.NextBelow((ulong)(s - size + 1)), y = (int)rng.NextBelow((ulong)(s - size + 1));
            var patch = torch.nn.functional.interpolate(_items[item].unsqueeze(0), [size, size], mode: torch.InterpolationMode.Bilinear, align_corners: false)[0, 0].clamp(0, 1);
            var mask = patch > 0.2f;
            var tint = torch.tensor(new[] { (float)(0.5 + 0.5 * U()), (float)(0.5 + 0.5 * U()), (float)(0.5 + 0.5 * U()) }).view(3, 1, 1);
            var region = image[.., y..(y + size), x..(x + size)];
            region.copy_(torch.where(mask.unsqueeze(0), patch.unsqueeze(0) * tint, region));
            var lreg = label[y..(y + size), x..(x + size)];
            lreg.copy_(torch.where(mask, _source.Labels[item] + 1, lreg));
            var ireg = instance[y..(y + size), x..(x + size)];
            ireg.copy_(torch.where(mask, torch.tensor((byte)(k + 1)), ireg));
        }
        if (Options.IgnoreBand) label = WithIgnoreBand(label);
        return (image, label, instance);
    }

    /// <summary>Sets to 255 every pixel whose 4-neighbourhood holds another label (a 1-pixel band on both sides of each boundary).</summary>
    public static torch.Tensor WithIgnoreBand(torch.Tensor label)
    {
        using var scope = torch.NewDisposeScope();
        var l = label.unsqueeze(0).unsqueeze(0).to(torch.ScalarType.Float32);
        var padded = torch.nn.functional.pad(l, [1, 1, 1, 1], TorchSharp.PaddingModes.Replicate)[0, 0];
        long h = label.shape[0], w = label.shape[1];
        var c = padded[1..(int)(h + 1), 1..(int)(w + 1)];
        var edge = c.ne(padded[0..(int)h, 1..(int)(w + 1)]).logical_or(c.ne(padded[2..(int)(h + 2), 1..(int)(w + 1)]))
            .logical_or(c.ne(padded[1..(int)(h + 1), 0..(int)w])).logical_or(c.ne(padded[1..(int)(h + 1), 2..(int)(w + 2)]));
        return label.masked_fill(edge, 255).MoveToOuterDisposeScope();
    }

    /// <summary>Colours a label map [S, S] with <see cref="Palette"/> (ignored pixels white) as uint8 [3, S, S].</summary>
    public static torch.Tensor Colorize(torch.Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        var table = torch.tensor(Palette.SelectMany(c => c).Concat(Enumerable.Repeat((byte)255, 3 * (256 - Palette.Length))).ToArray()).view(256, 3);
        var idx = labels.to(torch.ScalarType.Int64).clamp(0, 255);
        return table.index_select(0, idx.flatten()).view(labels.shape[0], labels.shape[1], 3).permute(2, 0, 1).contiguous().MoveToOuterDisposeScope();
    }
}
