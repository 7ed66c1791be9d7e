using System.Text.Json;
using Tessera.IO;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Inference;
using TorchSharp;

namespace Tessera.Server.Tests;

/// <summary>
/// <c>POST /api/seg/predict</c> against checkpoints that the command line's <c>seg train</c> writes now (Fashion-MNIST
/// scenes and an ADE20K run), compared with the files <c>seg predict</c> writes for the same image.
/// </summary>
[Collection("server")]
public sealed class SegApiTests
{
    [Theory]
    [InlineData("scenes")]
    [InlineData("ade20k")]
    public async Task Served_label_png_is_seg_predict_s_file_byte_for_byte_with_the_checkpoint_s_classes(string run)
    {
        using var dir = new TempDir();
        string ckpt = run == "scenes" ? TestModels.Seg(dir) : TestModels.SegDataset(dir).Checkpoint;
        // An image neither run trained on, as a user would upload it and as seg predict reads it from a folder.
        byte[] png = TestModels.RandomPng(48, 40, 3);
        Directory.CreateDirectory(dir.File("input"));
        File.WriteAllBytes(Path.Combine(dir.File("input"), "photo.png"), png);
        var (code, output) = TestModels.Cli("seg", "predict", "--checkpoint", ckpt, "--input", dir.File("input"), "--output", dir.File("pred"), "-q");
        Assert.True(code == 0, output);
        byte[] predictedFile = File.ReadAllBytes(Path.Combine(dir.File("pred"), "labels", "photo.png"));

        var (server, client) = await TestModels.StartAsync(new ServerOptions { SegCheckpoint = ckpt });
        await using var _ = server;
        using var __ = client;
        var answer = await TestModels.Json(await client.PostAsync("/api/seg/predict", new ByteArrayContent(png)));
        byte[] served = Convert.FromBase64String(answer.GetProperty("labels_png").GetString()!);
        Assert.Equal(predictedFile, served);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("pred"), "overlays", "photo.png")), Convert.FromBase64String(answer.GetProperty("overlay_png").GetString()!));

        var stored = LabelPng.Decode(served, "labels");
        Assert.Equal((40, 48), (stored.Height, stored.Width));
        var classes = answer.GetProperty("classes").EnumerateArray().ToList();
        var models = await TestModels.Json(await client.GetAsync("/api/models"));
        var legend = models.GetProperty("seg").GetProperty("classes").EnumerateArray().Select(c => c.GetString()).ToList();
        Assert.Equal(legend, classes.Select(c => c.GetProperty("name").GetString()).ToList());
        Assert.Equal(1.0, classes.Sum(c => c.GetProperty("share").GetDouble()), 1e-9);
        if (run == "scenes")
        {
            // Fashion-MNIST scenes: eleven classes, background first, the label PNG holds the class indices, and they
            // are the network's argmax on the image scaled to [0, 1] (the scenes' input convention), whole image.
            Assert.Equal(11, classes.Count);
            Assert.Equal("background", classes[0].GetProperty("name").GetString());
            Assert.Equal("whole", models.GetProperty("seg").GetProperty("inference").GetString());
            using var model = SegmentationModel.Load(ckpt);
            using var scope = torch.NewDisposeScope();
            using var ___ = torch.no_grad();
            var image = ImageIO.ToTensor(new Tessera.Imaging.Skia.SkiaImageCodec().Decode(png, "upload"), ColorMode.Rgb).to(torch.ScalarType.Float32).div(255f);
            var want = model.Network.forward(image.unsqueeze(0)).argmax(1)[0].to(torch.ScalarType.Byte).flatten().data<byte>().ToArray();
            Assert.Equal(want, stored.Labels);
            for (int c = 0; c < 11; c++) Assert.Equal(want.Count(v => v == c), classes[c].GetProperty("pixels").GetInt64());
        }
        else
        {
            // ADE20K: its 150 classes and colours from the checkpoint ("wall" first, VOC's colour map is not used), slide
            // inference as the run validated, and labels stored as ADE20K stores them: class + 1 (0 is "other").
            Assert.Equal(150, classes.Count);
            Assert.Equal("wall", classes[0].GetProperty("name").GetString());
            Assert.Equal("#787878", classes[0].GetProperty("color").GetString());
            Assert.Equal("slide", models.GetProperty("seg").GetProperty("inference").GetString());
            Assert.All(stored.Labels, v => Assert.InRange(v, 1, 150));
            for (int c = 0; c < 150; c++) Assert.Equal(stored.Labels.Count(v => v == c + 1), classes[c].GetProperty("pixels").GetInt64());
        }
    }
}
