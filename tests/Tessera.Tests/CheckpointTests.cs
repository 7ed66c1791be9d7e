using static TorchSharp.torch;

namespace Tessera.Tests;

public class CheckpointTests
{
    [Fact]
    public void Round_trip_restores_weights_and_metadata()
    {
        using var dir = new TempDir();
        manual_seed(1);
        using var a = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3));
        using var b = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3));
        Checkpoint.Save(a, dir.File("m.safetensors"), new Dictionary<string, string> { ["model"] = "mlp" });
        var meta = Checkpoint.Load(b, dir.File("m.safetensors"));
        Assert.Equal("mlp", meta["model"]);
        var sa = a.state_dict();
        var sb = b.state_dict();
        foreach (var (k, v) in sa) Assert.True(Same.Tensors(v, sb[k]), k);
    }

    [Fact]
    public void Missing_extra_and_misshaped_tensors_are_named()
    {
        using var dir = new TempDir();
        using var small = nn.Sequential(nn.Linear(4, 3));
        using var wide = nn.Sequential(nn.Linear(4, 5));
        using var two = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2));
        Checkpoint.Save(small, dir.File("s.safetensors"));

        var e = Assert.Throws<TesseraFormatException>(() => Checkpoint.Load(wide, dir.File("s.safetensors")));
        Assert.Contains("'0.weight' has shape [3, 4], expected [5, 4]", e.Message);
        e = Assert.Throws<TesseraFormatException>(() => Checkpoint.Load(two, dir.File("s.safetensors")));
        Assert.Contains("missing tensors '1.weight', '1.bias'", e.Message);
        Checkpoint.Save(two, dir.File("t.safetensors"));
        e = Assert.Throws<TesseraFormatException>(() => Checkpoint.Load(small, dir.File("t.safetensors")));
        Assert.Contains("unexpected tensors", e.Message);
        Assert.Contains("t.safetensors", e.Message);
    }

    [Fact]
    public void A_failed_write_leaves_the_previous_file_intact()
    {
        using var dir = new TempDir();
        string path = dir.File("c.safetensors");
        using var t = ones(3);
        SafeTensors.Save(path, [new("x", t)]);
        byte[] before = File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.Write(new byte[10]); throw new InvalidOperationException("crash"); }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
