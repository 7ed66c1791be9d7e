namespace Tessera.Tests;

/// <summary>
/// The fixtures' tiny official SAM (tests/fixtures/sam): its weights <c>sam_tiny.pth</c> (configuration
/// <see cref="SamFixtureTests.Tiny"/>) and the images and outputs the official code recorded, <c>sam_tiny_io.bin</c>.
/// </summary>
internal static class TinySam
{
    /// <summary>The fixtures' SAM folder.</summary>
    public static string Dir => Fixtures.Dir("sam");

    /// <summary>The model with the official weights, in evaluation mode unless <paramref name="eval"/> is false.</summary>
    public static SamModel Load(bool eval = true)
    {
        var m = new SamModel(SamFixtureTests.Tiny);
        m.LoadWeights(Path.Combine(Dir, "sam_tiny.pth"));
        if (eval) m.eval();
        return m;
    }

    /// <summary>The official weights saved by Tessera as safetensors at <paramref name="path"/>, which it returns.</summary>
    public static string SaveSafetensors(string path)
    {
        using var model = Load(eval: false);
        model.Save(path);
        return path;
    }

    /// <summary>The recorded inputs and outputs by name (<c>img0/image</c>, …).</summary>
    public static Dictionary<string, torch.Tensor> Io() => TensorIndexFile.Read(Path.Combine(Dir, "sam_tiny_io.bin"));

    /// <summary>Recorded image <paramref name="index"/> ([H, W, 3] uint8) written as a PNG at <paramref name="path"/>, which it returns.</summary>
    public static string SaveImage(Dictionary<string, torch.Tensor> io, int index, string path)
    {
        ImageIO.SavePng(io[$"img{index}/image"].permute(2, 0, 1), path);
        return path;
    }
}
