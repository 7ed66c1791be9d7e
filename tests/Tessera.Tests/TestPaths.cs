namespace Tessera.Tests;

/// <summary>Process-wide settings of the test run, before any test.</summary>
internal static class TestRun
{
    /// <summary>Pins the Fashion-MNIST source to the embedded subset, in this process and in the tessera children it starts:
    /// tests must not change their data when Debian's dataset-fashion-mnist is installed.</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void PinDataSource() => Environment.SetEnvironmentVariable(Tessera.Data.FashionMnist.SystemDataVariable, "0");
}

internal static class SharedFixtures
{
    /// <summary>../shared/fixtures relative to the repository root, or null where absent (a user's clone).</summary>
    public static string? Root
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null)
            {
                string candidate = System.IO.Path.Combine(dir, "..", "shared", "fixtures");
                if (Directory.Exists(System.IO.Path.Combine(dir, ".git")) || System.IO.File.Exists(System.IO.Path.Combine(dir, "Tessera.sln")))
                    return Directory.Exists(candidate) ? System.IO.Path.GetFullPath(candidate) : null;
                dir = System.IO.Path.GetDirectoryName(dir);
            }
            return null;
        }
    }

    /// <summary>Whether ../shared/fixtures/<paramref name="folder"/> exists.</summary>
    public static bool Has(string folder) => Root is { } root && Directory.Exists(System.IO.Path.Combine(root, folder));

    /// <summary>Why a test of <paramref name="folder"/> cannot run.</summary>
    public static string MissingReason(string folder) => $"golden fixtures ../shared/fixtures/{folder} are not present beside this checkout";

    /// <summary>The fixtures folder, failing the test with a clear message where it is missing (in CI, where nothing is skipped).</summary>
    public static string Required => Root
        ?? throw new Xunit.Sdk.XunitException("golden fixtures ../shared/fixtures are not present beside this checkout (CI=true: required, not skipped)");
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
}
