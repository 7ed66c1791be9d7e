namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera data grid</c>.</summary>
internal sealed class DataGridSettings : DataSettings
{
    [CommandOption("--images <DIR>"), Description("A folder of images (PNG/JPEG/…, any size; sub-folders are classes). Default: Fashion-MNIST.")] public string? Images { get; init; }
    [CommandOption("--size <N>"), Description("Side of each tile for --images (resized and centre-cropped). Default 64.")] public int Size { get; init; } = 64;
    [CommandOption("--gray"), Description("Read --images as gray instead of RGB.")] public bool Gray { get; init; }
    [CommandOption("--count <N>"), Description("How many images (shuffled with --seed). Default 64.")] public int Count { get; init; } = 64;
    [CommandOption("--split <SPLIT>"), Description("train or test (Fashion-MNIST). Default train.")] public string SplitName { get; init; } = "train";
    [CommandOption("-o|--output|--out <FILE>"), Description("The PNG to write. Default grid.png.")] public string Out { get; init; } = "grid.png";

    public override ValidationResult Validate()
    {
        if (Count < 1) return ValidationResult.Error($"--count: {Count}; expected at least 1");
        if (Size < 1) return ValidationResult.Error($"--size: {Size}; expected at least 1");
        if (OptionChoices.Check<Split>("--split", SplitName, "Fashion-MNIST split") is { Successful: false } bad) return bad;
        return base.Validate();
    }
}

/// <summary><c>tessera data grid</c>: a PNG grid of a dataset's images.</summary>
internal sealed class DataGridCommand : TesseraCommand<DataGridSettings>
{
    public override int Execute(CommandContext context, DataGridSettings settings, CancellationToken cancellation)
    {
        torch.Device device = settings.Apply();
        using var scope = torch.NewDisposeScope();
        torch.Tensor images;
        if (settings.Images is not null)
        {
            var folder = new ImageFolder(settings.Images, new ImageFolderOptions(settings.Size, settings.Gray ? ColorMode.Gray : ColorMode.Rgb));
            images = Ui.WithProgress("reading images", Math.Min(settings.Count, folder.Count), "img", report =>
                ImageSample.FromFolder(folder, settings.Count, settings.Seed, device, Ui.Counter(report), cancellation));
        }
        else
        {
            using FashionMnist data = FashionMnist.Load(EnumNames.Parse<Split>("split", settings.SplitName), settings.Data);
            images = ImageSample.FromFashionMnist(data, settings.Count, settings.Seed, device);
        }
        int columns = (int)Math.Ceiling(Math.Sqrt(images.shape[0]));
        string path = Path.GetFullPath(settings.Out);
        ImageIO.SaveGrid(images, path, columns, padding: 2, padValue: 1.0);
        Ui.Result($"wrote {path} ({images.shape[0]} images)");
        return Program.Ok;
    }
}
