namespace Tessera.Tests;

// Serial: resume bit for bit relies on SegTrainer's torch.manual_seed of libtorch's global generator, which parallel tests also seed and draw from.
[Collection("serial")]
public class SegCliTests
{
    private static string[] Train(string outDir, int steps, params string[] extra) =>
        ["seg", "train", "--model", "gcn", "--k", "3", "--width", "16", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--batch", "2",
         "--eval-every", "3", "--eval-scenes", "8", "--out", outDir, "--seed", "5", "-q", .. extra];

    [Fact]
    public void Resumed_training_equals_uninterrupted_training_bit_for_bit()
    {
        using var dir = new TempDir();
        CliTests.AssertResumeEqualsStraight(dir, Train, 6, stopAt: 3);
        Assert.True(File.Exists(Path.Combine(dir.File("split"), "loss.png")));
        var csv = File.ReadAllLines(Path.Combine(dir.File("split"), "curve.csv"));
        Assert.Equal(1 + 6 + 2, csv.Length); // header, six losses, evaluations at steps 3 and 6
    }

    [Fact]
    public void Predict_writes_labels_and_overlays_and_refuses_bad_inputs()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliTests.Run(Train(dir.File("run"), 2)).Code);
        Assert.Equal(0, CliTests.Run("seg", "make-dataset", "--out", dir.File("scenes"), "--count", "3", "-q").Code);
        string ckpt = Path.Combine(dir.File("run"), "checkpoint.safetensors");
        var (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--input", Path.Combine(dir.File("scenes"), "images"), "--output", dir.File("pred"), "-q");
        Assert.Equal(0, code);
        var label = LabelPng.Read(Path.Combine(dir.File("pred"), "labels", "00000.png"));
        Assert.Equal((64, 64), (label.Width, label.Height));
        Assert.All(label.Labels, v => Assert.InRange(v, 0, 10));
        Assert.True(File.Exists(Path.Combine(dir.File("pred"), "overlays", "00002.png")));
        // The predictions evaluate with seg eval as they are: predict's --output folder itself (beside labels/ it holds
        // overlays/ and the shard summary, which are not predictions) scores as its labels/ folder does, to the last count.
        Assert.True(File.Exists(Path.Combine(dir.File("pred"), "summary.json")));
        (code, output) = CliTests.Run("seg", "eval", "--gt", Path.Combine(dir.File("scenes"), "labels"), "--pred", Path.Combine(dir.File("pred"), "labels"), "--num-classes", "11",
            "--json", dir.File("labels.json"), "-q");
        Assert.Equal(0, code);
        Assert.Contains("mIoU", output);
        (code, output) = CliTests.Run("seg", "eval", "--gt", Path.Combine(dir.File("scenes"), "labels"), "--pred", dir.File("pred"), "--num-classes", "11",
            "--json", dir.File("folder.json"), "-q");
        Assert.True(code == 0, output);
        using (var a = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("labels.json"))))
        using (var b = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("folder.json"))))
        {
            Assert.Equal(a.RootElement.GetProperty("confusion_matrix").GetRawText(), b.RootElement.GetProperty("confusion_matrix").GetRawText());
            Assert.Equal(3, b.RootElement.GetProperty("num_images").GetInt32());
        }

        // Bad inputs: an even k, a checkpoint of another kind, output = input, non-images, another model's weights.
        (code, output) = CliTests.Run(["seg", "train", "--k", "4", "--steps", "1", "--out", dir.File("x")]);
        Assert.Equal(2, code);
        Assert.Contains("k", output);
        (code, output) = CliTests.Run("seg", "train", "--model", "deeplabv3", "--dilations", "1,2,3", "--steps", "1", "--out", dir.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("--dilations", output);
        Assert.Contains("expected 4 positive rates", output);
        using (var t = TorchSharp.torch.zeros(2)) SafeTensors.Save(dir.File("other.safetensors"), [new("w", t)]);
        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", dir.File("other.safetensors"), "--input", Path.Combine(dir.File("scenes"), "images"), "--output", dir.File("p2"));
        Assert.Equal(2, code);
        Assert.Contains("not a segmentation checkpoint", output);
        string images = Path.Combine(dir.File("scenes"), "images");
        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--input", images, "--output", images);
        Assert.Equal(2, code);
        Assert.Contains("--output", output);
        File.WriteAllText(Path.Combine(images, "zz.txt"), "hello");
        (code, output) = CliTests.Run("seg", "predict", "--checkpoint", ckpt, "--input", images, "--output", dir.File("p3"));
        Assert.Equal(2, code);
        Assert.Contains("zz.txt", output);
        (code, output) = CliTests.Run(Train(dir.File("run"), 4, "--resume", "--width", "32"));
        Assert.Equal(2, code);
        Assert.Contains("checkpoint.safetensors", output);
    }

    [Fact]
    public void Scenes_are_deterministic_and_consistent()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliTests.Run("seg", "make-dataset", "--out", dir.File("a"), "--count", "4", "--seed", "3", "-q").Code);
        Assert.Equal(0, CliTests.Run("seg", "make-dataset", "--out", dir.File("b"), "--count", "4", "--seed", "3", "-q").Code);
        foreach (string sub in new[] { "images", "labels", "instances" })
            foreach (string f in Directory.GetFiles(dir.File(Path.Combine("a", sub))))
                Assert.Equal(File.ReadAllBytes(f), File.ReadAllBytes(Path.Combine(dir.File("b"), sub, Path.GetFileName(f))));
        for (int i = 0; i < 4; i++)
        {
            var labels = LabelPng.Read(Path.Combine(dir.File("a"), "labels", $"0000{i}.png")).Labels;
            var inst = LabelPng.Read(Path.Combine(dir.File("a"), "instances", $"0000{i}.png")).Labels;
            // Background in one map is background in the other; every scene has at least one item.
            Assert.All(labels.Zip(inst), p => Assert.Equal(p.First == 0, p.Second == 0));
            Assert.Contains(labels, v => v > 0);
        }
    }

    [Fact]
    public void Backbone_weights_from_a_torchvision_state_dict_initialise_the_backbone()
    {
        using var dir = new TempDir();
        TorchSharp.torch.manual_seed(123);
        using (var tv = new Tessera.Segmentation.Backbones.ResNet(Tessera.Segmentation.Backbones.ResNetDepth.ResNet18, 32))
            TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(dir.File("resnet18.pth"), new System.Collections.Hashtable(tv.state_dict()));
        var (code, output) = CliTests.Run("seg", "train", "--model", "fcn", "--backbone-weights", dir.File("resnet18.pth"), "--steps", "1", "--batch", "2",
            "--eval-every", "1", "--eval-scenes", "2", "--out", dir.File("run"), "-q");
        Assert.True(code == 0, output);
        var file = Checkpoint.ReadPyTorch(dir.File("resnet18.pth"));
        using var ckpt = SafeTensors.Load(Path.Combine(dir.File("run"), "checkpoint.safetensors"));
        string key = ckpt.Tensors.Keys.Single(k => k.EndsWith("backbone.layer2.1.conv2.weight", StringComparison.Ordinal));
        // One AdamW step in warm-up moves a weight by at most about lr/100; a random initialisation would differ by O(0.1).
        Assert.True((ckpt.Tensors[key] - file["layer2.1.conv2.weight"]).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void Backbone_weights_that_do_not_fit_torchvision_resnet_are_refused_naming_the_file_and_the_tensor()
    {
        using var dir = new TempDir();
        // A real PyTorch state dict, of a network that is not a torchvision ResNet: a 16-channel 3×3 stem only.
        using (var w = TorchSharp.torch.zeros(16, 3, 3, 3))
            TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(dir.File("tiny.pth"), new System.Collections.Hashtable { ["conv1.weight"] = w });
        var (code, output) = CliTests.Run("seg", "train", "--model", "fcn", "--backbone-weights", dir.File("tiny.pth"), "--steps", "1", "--out", dir.File("r2"), "-q");
        Assert.Equal(2, code);
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("tessera: error:", line);
        Assert.Contains("tiny.pth", line);
        Assert.Contains("'conv1.weight' has shape [16, 3, 3, 3], expected [64, 3, 7, 7]", line);
        Assert.Contains("missing tensors 'bn1.weight'", line);

        (code, output) = CliTests.Run("seg", "train", "--model", "fcn", "--backbone-weights", dir.File("missing.pth"), "--steps", "1", "--out", dir.File("r3"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("missing.pth", output);
        Assert.Contains("file not found", output);
    }
}
