namespace Tessera.Data;

/// <summary>Which half of a dataset.</summary>
public enum Split
{
    /// <summary>The training split.</summary>
    Train,
    /// <summary>The test split.</summary>
    Test,
}

/// <summary>Where a dataset was found.</summary>
public enum DataSourceKind
{
    /// <summary>A folder the caller named.</summary>
    UserFolder,
    /// <summary>Debian's <c>dataset-fashion-mnist</c> package.</summary>
    DebianPackage,
    /// <summary>The small subset embedded in Tessera (2,000 training and 500 test images).</summary>
    Embedded,
}

/// <summary>A located copy of Fashion-MNIST.</summary>
/// <param name="Kind">What kind of source.</param>
/// <param name="Folder">The folder holding the IDX files, or null for the embedded subset.</param>
public sealed record FashionMnistSource(DataSourceKind Kind, string? Folder)
{
    /// <summary>A one-line description for people.</summary>
    public string Describe() => Kind switch
    {
        DataSourceKind.UserFolder => $"{Folder} (the folder given)",
        DataSourceKind.DebianPackage => $"{Folder} (Debian package dataset-fashion-mnist)",
        _ => "embedded subset (2,000 train / 500 test images; install Debian's dataset-fashion-mnist for all 70,000)",
    };
}

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017): 28×28 gray images of 10 clothing classes. Found, in order, in
/// the folder given by the user, in Debian's <c>dataset-fashion-mnist</c> package
/// (<see cref="DebianFolder"/>), or in the small subset embedded in Tessera.
/// </summary>
public sealed class FashionMnist : IDisposable
{
    /// <summary>
    /// Set to <c>0</c>, Debian's package is ignored and the embedded subset is the default: so that a test suite
    /// (or any reproducible run) does not change its data when the package is installed.
    /// </summary>
    public const string SystemDataVariable = "TESSERA_SYSTEM_DATA";

    /// <summary>Where Debian's package installs the files.</summary>
    public const string DebianFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten class names, in label order.</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Images, uint8 [N, 28, 28] on the CPU.</summary>
    public torch.Tensor Images { get; }

    /// <summary>Labels, int64 [N] on the CPU.</summary>
    public torch.Tensor Labels { get; }

    /// <summary>Which split.</summary>
    public Split Split { get; }

    /// <summary>Where the data came from.</summary>
    public FashionMnistSource Source { get; }

    /// <summary>Number of images.</summary>
    public long Count => Images.shape[0];

    private FashionMnist(torch.Tensor images, torch.Tensor labels, Split split, FashionMnistSource source)
    {
        Images = images;
        Labels = labels;
        Split = split;
        Source = source;
    }

    private static string Stem(Split split, bool images) =>
        (split == Split.Train ? "train" : "t10k") + (images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte");

    /// <summary>Finds the IDX file for a split in a folder (plain or .gz); null when absent.</summary>
    public static string? FindFile(string folder, Split split, bool images)
    {
        string stem = Path.Combine(folder, Stem(split, images));
        foreach (string candidate in new[] { stem + ".gz", stem })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>
    /// Locates the data: <paramref name="dataFolder"/> when given (it must hold the four files),
    /// else Debian's package (unless <see cref="SystemDataVariable"/> is 0), else the embedded subset.
    /// </summary>
    /// <exception cref="TesseraUserException">A named folder lacks the files.</exception>
    public static FashionMnistSource Locate(string? dataFolder = null)
    {
        if (!string.IsNullOrEmpty(dataFolder))
        {
            if (!Directory.Exists(dataFolder)) throw new TesseraUserException(nameof(dataFolder), $"folder '{dataFolder}' does not exist");
            foreach (Split split in new[] { Split.Train, Split.Test })
                foreach (bool images in new[] { true, false })
                    if (FindFile(dataFolder, split, images) is null)
                        throw new TesseraUserException(nameof(dataFolder), $"'{dataFolder}' has no {Stem(split, images)}[.gz]; expected the four Fashion-MNIST IDX files");
            return new FashionMnistSource(DataSourceKind.UserFolder, Path.GetFullPath(dataFolder));
        }
        if (Environment.GetEnvironmentVariable(SystemDataVariable) != "0"
            && FindFile(DebianFolder, Split.Train, true) is not null && FindFile(DebianFolder, Split.Train, false) is not null
            && FindFile(DebianFolder, Split.Test, true) is not null && FindFile(DebianFolder, Split.Test, false) is not null)
            return new FashionMnistSource(DataSourceKind.DebianPackage, DebianFolder);
        return new FashionMnistSource(DataSourceKind.Embedded, null);
    }

    /// <summary>Loads one split from wherever <see cref="Locate"/> finds the data.</summary>
    public static FashionMnist Load(Split split, string? dataFolder = null) => Load(split, Locate(dataFolder));

    /// <summary>Loads one split from a located source.</summary>
    /// <exception cref="TesseraFormatException">A file is corrupt or the images and labels disagree.</exception>
    public static FashionMnist Load(Split split, FashionMnistSource source)
    {
        IdxArray images, labels;
        string imageName, labelName;
        if (source.Kind == DataSourceKind.Embedded)
        {
            imageName = Stem(split, true) + ".gz";
            labelName = Stem(split, false) + ".gz";
            images = ReadEmbedded(imageName);
            labels = ReadEmbedded(labelName);
        }
        else
        {
            imageName = FindFile(source.Folder!, split, true) ?? throw new TesseraUserException($"{source.Folder}: no {Stem(split, true)}[.gz]");
            labelName = FindFile(source.Folder!, split, false) ?? throw new TesseraUserException($"{source.Folder}: no {Stem(split, false)}[.gz]");
            images = Idx.Read(imageName);
            labels = Idx.Read(labelName);
        }
        if (images.Type != IdxType.UInt8 || images.Shape.Length != 3 || images.Shape[1] != 28 || images.Shape[2] != 28)
            throw new TesseraFormatException(imageName, $"expected uint8 images of shape [N, 28, 28], found {images.Type} [{string.Join(", ", images.Shape)}]");
        if (labels.Type != IdxType.UInt8 || labels.Shape.Length != 1)
            throw new TesseraFormatException(labelName, $"expected uint8 labels of shape [N], found {labels.Type} [{string.Join(", ", labels.Shape)}]");
        if (labels.Shape[0] != images.Shape[0])
            throw new TesseraFormatException(labelName, $"{labels.Shape[0]} labels for {images.Shape[0]} images in {imageName}");
        int bad = Array.FindIndex(labels.Data, b => b > 9);
        if (bad >= 0) throw new TesseraFormatException(labelName, $"label {labels.Data[bad]} at index {bad} is not a class (0-9)");

        var imageTensor = images.ToTensor();
        using var raw = labels.ToTensor();
        var labelTensor = raw.to(torch.ScalarType.Int64);
        return new FashionMnist(imageTensor, labelTensor, split, source);
    }

    private static IdxArray ReadEmbedded(string file)
    {
        string resource = "Tessera.FashionMnistSubset." + file;
        using Stream stream = typeof(FashionMnist).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded resource {resource} is missing from Tessera.dll");
        return Idx.Read(stream, "embedded:" + file);
    }

    /// <summary>Images as float32 [N, 1, 28, 28] scaled to [<paramref name="low"/>, <paramref name="high"/>] on <paramref name="device"/>.</summary>
    public torch.Tensor ImagesAsFloat(torch.Device? device = null, float low = 0f, float high = 1f)
    {
        using var scope = torch.NewDisposeScope();
        var x = Images.to(torch.ScalarType.Float32).div(255f).mul(high - low).add(low).unsqueeze(1);
        if (device is not null) x = x.to(device);
        return x.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
