namespace Tessera.Tests;

/// <summary>A mask PNG a SAM verb wrote against the official predictor's recorded mask and logits.</summary>
internal static class RecordedMask
{
    /// <summary>The mask of a label PNG (255: inside).</summary>
    public static bool[] Read(string path) => LabelPng.Read(path).Labels.Select(v => v == 255).ToArray();

    /// <summary>
    /// Asserts <paramref name="file"/> equals the recorded mask on at least 99.9 % of its pixels, and differs only
    /// where the recorded logit is within 1e-3 of the threshold (a float32 rounding can flip those).
    /// </summary>
    public static void Same(string file, torch.Tensor masks, torch.Tensor logits)
    {
        var want = masks.flatten().data<bool>().ToArray();
        var margin = logits.flatten().data<float>().ToArray();
        var got = Read(file);
        Assert.Equal(want.Length, got.Length);
        int differ = Enumerable.Range(0, want.Length).Count(i => want[i] != got[i]);
        Assert.True(differ <= want.Length / 1000, $"{differ} of {want.Length} pixels differ");
        Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(want[i] == got[i] || Math.Abs(margin[i]) < 1e-3, $"pixel {i}"));
    }

    /// <summary>
    /// Runs <c>tessera sam segment</c> with the fixtures' click at (70, 60), three masks, into <paramref name="output"/>,
    /// and checks the written best mask against the official predictor's recorded prompt "point".
    /// </summary>
    public static void SegmentedClickIsOfficial(string checkpoint, string image, string output, Func<string, torch.Tensor> recorded)
    {
        var (code, text) = CliTests.Run("sam", "segment", "--checkpoint", checkpoint, "--image", image, "--point", "70,60", "--multimask", "--output", output, "-q");
        Assert.True(code == 0, text);
        var iou = recorded("point/iou_predictions").data<float>().ToArray();
        int best = Array.IndexOf(iou, iou.Max());
        Same(output, recorded("point/masks")[best], recorded("point/logits")[best]);
    }
}
