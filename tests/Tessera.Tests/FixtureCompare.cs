namespace Tessera.Tests;

/// <summary>Comparisons of tensors with golden-fixture references, shared by the fixture tests.</summary>
internal static class FixtureCompare
{
    /// <summary>
    /// Asserts max |got − want| ≤ <paramref name="rel"/> · max(1, max |want|) (same shape), logs and returns the relative error.
    /// </summary>
    public static double Close(ITestOutputHelper log, torch.Tensor got, torch.Tensor want, string key, double rel = 1e-4)
    {
        Assert.True(want.shape.SequenceEqual(got.shape), $"{key}: shape [{string.Join(",", got.shape)}] vs [{string.Join(",", want.shape)}]");
        double scale = Math.Max(1, want.abs().max().item<float>());
        double err = (got.to(torch.ScalarType.Float32).cpu() - want).abs().max().item<float>();
        Assert.True(err <= rel * scale, $"{key}: max error {err:E2} > {rel * scale:E2}");
        log.WriteLine($"{key}: max |error| / max(1, max|ref|) = {err / scale:E2}");
        return err / scale;
    }

    /// <summary>A key listing of a fixture (<c>{"keys": [{"key", "shape"}, …]}</c>) as key → shape.</summary>
    public static Dictionary<string, long[]> Listing(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("keys").EnumerateArray().ToDictionary(
            e => e.GetProperty("key").GetString()!, e => e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray());
    }
}
