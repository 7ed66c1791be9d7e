namespace Tessera.Tests;

public class PredictionWriterTests
{
    [Fact]
    public void Predictions_are_written_in_each_datasets_convention()
    {
        using var dir = new TempDir();
        SegDatasetLayouts.WriteVoc(Path.Combine(dir.Path, "voc"));
        SegDatasetLayouts.WriteAde(Path.Combine(dir.Path, "ade"));
        var voc = VocDataset.Open(Path.Combine(dir.Path, "voc"), "val");
        var ade = Ade20kDataset.Open(Path.Combine(dir.Path, "ade"), "val");
        byte[] pred = [0, 15, 255, 149];
        PredictionWriter.WriteLabels(voc, dir.File("v.png"), pred, 2, 2);
        Assert.Equal(pred, LabelPng.Read(dir.File("v.png")).Labels);
        using (var bmp = SkiaSharp.SKBitmap.Decode(dir.File("v.png")))
            Assert.Equal(new SkiaSharp.SKColor(192, 128, 128), bmp.GetPixel(1, 0)); // VOC's person colour
        // ADE20K: class k is stored as k + 1, ignored as 0 ("other").
        PredictionWriter.WriteLabels(ade, dir.File("a.png"), pred, 2, 2);
        Assert.Equal(new byte[] { 1, 16, 0, 150 }, LabelPng.Read(dir.File("a.png")).Labels);
        // Overlay at α = 0.5 of class 1 (VOC (128, 0, 0)) on a gray 100 pixel: (114, 50, 50).
        var o = PredictionWriter.Overlay([1], 1, 1, voc.Palette, [100, 100, 100]);
        Assert.Equal(new byte[] { 114, 50, 50 }, o);
    }
}
