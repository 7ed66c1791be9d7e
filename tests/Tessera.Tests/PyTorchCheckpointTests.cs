namespace Tessera.Tests;

public class PyTorchCheckpointTests
{
    [Fact]
    public void Reads_an_official_style_torch_save_file()
    {
        // sam_tiny.pth was written by torch.save(state_dict); sam_tiny_weights.bin holds the same 202 tensors raw.
        string dir = Fixtures.Dir("sam");
        var pth = Checkpoint.ReadAny(Path.Combine(dir, "sam_tiny.pth"));
        var raw = TensorIndexFile.Read(Path.Combine(dir, "sam_tiny_weights.bin"));
        Assert.Equal(202, pth.Count);
        Assert.Equal(raw.Keys.Order(StringComparer.Ordinal), pth.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, v) in raw) Assert.True(Same.Tensors(v, pth[k]), k);
    }

    [Fact]
    public void A_state_dict_file_round_trips_into_a_module_and_bad_files_are_named()
    {
        using var dir = new TempDir();
        torch.manual_seed(3);
        using var a = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2));
        using var b = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2));
        TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(dir.File("m.pth"), new System.Collections.Hashtable(a.state_dict()));
        Checkpoint.LoadAny(b, dir.File("m.pth"));
        foreach (var (k, v) in a.state_dict()) Assert.True(Same.Tensors(v, b.state_dict()[k]), k);
        File.WriteAllBytes(dir.File("bad.pth"), [(byte)'P', (byte)'K', 3, 4, 0, 0]);
        Assert.Contains("bad.pth", Assert.Throws<TesseraFormatException>(() => Checkpoint.ReadAny(dir.File("bad.pth"))).Message);
        using var wide = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4));
        Assert.Contains("expected [4, 3]", Assert.Throws<TesseraFormatException>(() => Checkpoint.LoadAny(wide, dir.File("m.pth"))).Message);
    }
}
