using Tessera.Data;
using Tessera.Segmentation.Inference;

namespace Tessera.Tests;

/// <summary>Entry points that took over work of the command line's commands: their errors name library parameters (the CLI maps them to flags), their outputs are where the commands wrote them.</summary>
public sealed class CliEntryPointTests
{
    [Fact]
    public void Batch_prediction_of_a_folder_names_its_parameters_in_errors()
    {
        using var dir = new TempDir();
        Assert.Equal("inputFolder", Assert.Throws<TesseraUserException>(() => BatchPrediction.FromFolder(dir.File("absent"), dir.File("out"))).Parameter);
        Directory.CreateDirectory(dir.File("empty"));
        var empty = Assert.Throws<TesseraUserException>(() => BatchPrediction.FromFolder(dir.File("empty"), dir.File("out")));
        Assert.Equal("inputFolder", empty.Parameter);
        Assert.Contains("is empty", empty.Detail);
        File.WriteAllText(Path.Combine(dir.File("empty"), "a.png"), "");
        Assert.Equal("outputFolder", Assert.Throws<TesseraUserException>(() => BatchPrediction.FromFolder(dir.File("empty"), dir.File("empty") + "/")).Parameter);
        // a.png and a.jpg would both write a.png
        File.WriteAllText(Path.Combine(dir.File("empty"), "a.jpg"), "");
        Assert.Contains("two inputs would write a.png", Assert.Throws<TesseraUserException>(() => BatchPrediction.FromFolder(dir.File("empty"), dir.File("out"))).Message);
    }

    [Fact]
    public void Scene_folder_writes_images_labels_instances_and_the_eleven_class_names()
    {
        using var dir = new TempDir();
        using var source = FashionMnist.Load(Split.Test);
        SceneFolder.Write(new FashionMnistScenes(source, new SceneOptions(64)), dir.Path, 33);
        foreach (string sub in new[] { "images", "labels", "instances" })
        {
            var files = Directory.GetFiles(Path.Combine(dir.Path, sub)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(33, files.Length); // two batches of up to 32
            Assert.Equal(("00000.png", "00032.png"), (files[0], files[^1]));
        }
        // the 10 Fashion-MNIST classes and the background
        Assert.Equal(11, File.ReadAllLines(Path.Combine(dir.Path, "classes.txt")).Length);
        var label = LabelPng.Read(Path.Combine(dir.Path, "labels", "00032.png"));
        Assert.Equal((64, 64), (label.Width, label.Height));
    }
}
