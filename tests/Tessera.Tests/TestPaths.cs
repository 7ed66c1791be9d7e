namespace Tessera.Tests;

/// <summary>Process-wide settings of the test run, before any test.</summary>
internal static class TestRun
{
    /// <summary>Pins the Fashion-MNIST source to the embedded subset, in this process and in the tessera children it starts:
    /// tests must not change their data when Debian's dataset-fashion-mnist is installed.</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void PinDataSource() => Environment.SetEnvironmentVariable(Tessera.Data.FashionMnist.SystemDataVariable, "0");

    /// <summary>The image codec, as an application sets it at startup (JPEG and the other formats Tessera does not read itself).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void SetImageCodec() => Tessera.IO.ImageIO.Codec = new Tessera.Imaging.Skia.SkiaImageCodec();
}

internal static class Fixtures
{
    /// <summary>tests/fixtures of the repository these tests were built from (found above the test binaries by Tessera.sln).</summary>
    public static string Root
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !System.IO.File.Exists(System.IO.Path.Combine(dir, "Tessera.sln"))) dir = System.IO.Path.GetDirectoryName(dir);
            if (dir is null) throw new Xunit.Sdk.XunitException("Tessera.sln not found above the test binaries: the golden fixtures are in tests/fixtures of the repository");
            return System.IO.Path.Combine(dir, "tests", "fixtures");
        }
    }

    /// <summary>tests/fixtures/<paramref name="folder"/> (coco, diffusion, resnet, sam; see tests/fixtures/README.md).</summary>
    public static string Dir(string folder) => System.IO.Path.Combine(Root, folder);
}

internal static class Same
{
    /// <summary>Same shape, dtype-agnostic exact equality of every element.</summary>
    public static bool Tensors(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var scope = TorchSharp.torch.NewDisposeScope();
        return a.to(TorchSharp.torch.ScalarType.Float64).eq(b.to(TorchSharp.torch.ScalarType.Float64)).all().item<bool>();
    }

    /// <summary>The checkpoints of two run folders: the second at <paramref name="step"/>, both with the same model weights, element for element.</summary>
    public static void ModelWeights(string runA, string runB, int step)
    {
        using var a = Tessera.IO.SafeTensors.Load(System.IO.Path.Combine(runA, "checkpoint.safetensors"));
        using var b = Tessera.IO.SafeTensors.Load(System.IO.Path.Combine(runB, "checkpoint.safetensors"));
        Assert.Equal(step.ToString(System.Globalization.CultureInfo.InvariantCulture), b.Metadata["step"]);
        foreach (var (k, v) in a.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)))
            Assert.True(Tensors(v, b.Tensors[k]), k);
    }

    /// <summary>
    /// Two PNGs of the same seed sampled with another batch size or thread count: oneDNN's kernels round differently, so
    /// they agree up to that rounding — at most one grey level, in at most 1 % of the values (docs/scale-out.md,
    /// "Determinism across splits"); a different image would differ by far more.
    /// </summary>
    public static void ImagesUpToRounding(string pathA, string pathB)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var a = Tessera.IO.ImageIO.Load(pathA, Tessera.IO.ColorMode.Rgb).to(TorchSharp.torch.ScalarType.Int32);
        var b = Tessera.IO.ImageIO.Load(pathB, Tessera.IO.ColorMode.Rgb).to(TorchSharp.torch.ScalarType.Int32);
        Assert.Equal(a.shape, b.shape);
        var diff = (a - b).abs();
        string name = System.IO.Path.GetFileName(pathB);
        Assert.True(diff.max().item<int>() <= 1, $"{name}: a pixel differs by {diff.max().item<int>()} grey levels");
        Assert.True(diff.count_nonzero().item<long>() <= a.numel() / 100, $"{name}: {diff.count_nonzero().item<long>()} of {a.numel()} values differ");
    }
}
