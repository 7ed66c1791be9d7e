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

    /// <summary>
    /// The prompt of recorded case <paramref name="c"/> of image <paramref name="img"/> as the official script gave it:
    /// points and labels and the box in the original frame (sam_tiny_meta.json), the mask input from <paramref name="io"/>.
    /// </summary>
    public static SamPrompt Prompt(JsonElement meta, Dictionary<string, torch.Tensor> io, string img, string c)
    {
        var points = new List<SamPoint>();
        if (meta.TryGetProperty("point_coords_original_frame", out var pts))
        {
            var labels = meta.GetProperty("point_labels").EnumerateArray().Select(l => l.GetInt32()).ToArray();
            int i = 0;
            foreach (var pt in pts.EnumerateArray()) points.Add(new SamPoint(pt[0].GetDouble(), pt[1].GetDouble(), labels[i++] == 1));
        }
        SamBox? box = meta.TryGetProperty("box_original_frame_xyxy", out var b) ? new SamBox(b[0].GetDouble(), b[1].GetDouble(), b[2].GetDouble(), b[3].GetDouble()) : null;
        io.TryGetValue($"{img}/{c}/mask_input", out var mask);
        return new SamPrompt(points, box, mask);
    }

    /// <summary>Recorded image <paramref name="index"/> ([H, W, 3] uint8) written as a PNG at <paramref name="path"/>, which it returns.</summary>
    public static string SaveImage(Dictionary<string, torch.Tensor> io, int index, string path)
    {
        ImageIO.SavePng(io[$"img{index}/image"].permute(2, 0, 1), path);
        return path;
    }
}
