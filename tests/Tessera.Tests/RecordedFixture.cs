namespace Tessera.Tests;

/// <summary>
/// A golden-fixture folder's recorded tensors (one <see cref="TensorIndexFile"/> container) and key listings
/// (<c>{"keys": [{key, shape, …}]}</c> JSON, as the MobileSAM and SAM 2 generators write them), compared by
/// max|got − ref| ≤ rel·max(1, max|ref|) — the per-stage tolerance of issue #27.
/// </summary>
internal sealed class RecordedFixture(string dir, string container)
{
    // read outside any test's dispose scope, so that a first use inside one does not dispose them with it
    private readonly Lazy<Dictionary<string, torch.Tensor>> _io = new(() =>
    {
        var tensors = TensorIndexFile.Read(Path.Combine(dir, container));
        foreach (var t in tensors.Values) t.DetachFromDisposeScope();
        return tensors;
    });

    /// <summary>The recorded tensor under <paramref name="key"/>; the fixture owns it (shared by every test): never dispose it.</summary>
    public torch.Tensor Ref(string key) => _io.Value.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException(key);

    /// <summary>Asserts <paramref name="got"/> matches the recording within <paramref name="rel"/>; logs and returns the relative error.</summary>
    public double Close(ITestOutputHelper log, torch.Tensor got, string key, double rel = 1e-4)
    {
        var want = Ref(key);
        Assert.True(want.shape.SequenceEqual(got.shape), $"{key}: shape [{string.Join(",", got.shape)}] vs [{string.Join(",", want.shape)}]");
        double scale = Math.Max(1, want.abs().max().item<float>());
        double err = (got.to(torch.ScalarType.Float32).cpu() - want).abs().max().item<float>();
        Assert.True(err <= rel * scale, $"{key}: max error {err:E2} > {rel * scale:E2}");
        log.WriteLine($"{key}: max |error| / max(1, max|ref|) = {err / scale:E2}");
        return err / scale;
    }

    /// <summary>The keys and shapes of a listing file in the folder.</summary>
    public Dictionary<string, long[]> Listing(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, file)));
        return doc.RootElement.GetProperty("keys").EnumerateArray().ToDictionary(
            e => e.GetProperty("key").GetString()!, e => e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray());
    }
}
