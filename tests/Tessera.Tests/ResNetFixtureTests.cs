using Tessera.Segmentation.Backbones;

namespace Tessera.Tests;

/// <summary>torchvision ResNets (plain and dilated) against tests/fixtures/resnet, weights from the README's formula.</summary>
public class ResNetFixtureTests
{
    private static string Dir => Fixtures.Dir("resnet");

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>The fixture README's weight formula, in float64, rounded to float32.</summary>
    private static torch.Tensor Weight(string key, long[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        double s = Crc32(System.Text.Encoding.UTF8.GetBytes(key)) % 1000;
        var values = new double[n];
        for (long i = 0; i < n; i++)
        {
            double b = Math.Sin(0.61803398875 * i + 0.1 * s);
            values[i] = key.EndsWith("running_var", StringComparison.Ordinal) ? 1 + 0.5 * b * b
                : key.EndsWith("running_mean", StringComparison.Ordinal) ? 0.1 * b
                : key.EndsWith(".weight", StringComparison.Ordinal) && shape.Length == 1 ? 1 + 0.2 * b
                : key.EndsWith(".bias", StringComparison.Ordinal) ? 0.05 * b
                : b * Math.Sqrt(3.0 / (n / shape[0]));
        }
        return torch.tensor(values, shape, torch.ScalarType.Float64).to(torch.ScalarType.Float32);
    }

    public static IEnumerable<object[]> Configs() =>
    [
        ["resnet18", ResNetDepth.ResNet18, 32],
        ["resnet34", ResNetDepth.ResNet34, 32],
        ["resnet50", ResNetDepth.ResNet50, 32],
        ["resnet50_os16", ResNetDepth.ResNet50, 16],
        ["resnet50_os8", ResNetDepth.ResNet50, 8],
        ["resnet101", ResNetDepth.ResNet101, 32],
        ["resnet101_os8", ResNetDepth.ResNet101, 8],
    ];

    [Theory]
    [MemberData(nameof(Configs))]
    public void Matches_torchvision_with_its_own_key_names(string name, ResNetDepth depth, int outputStride)
    {
        string keysName = name.Split('_')[0];
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "torchvision_resnet_keys.json")));
        var keys = doc.RootElement.GetProperty(keysName).EnumerateArray()
            .Select(e => (Key: e.GetProperty("key").GetString()!, Shape: e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray())).ToList();
        using var model = new ResNet(depth, outputStride);
        var state = model.state_dict();
        Assert.Equal(keys.Select(k => k.Key).Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal)); // exactly torchvision's names
        using (torch.no_grad())
            foreach (var (key, shape) in keys)
            {
                Assert.Equal(shape, state[key].shape);
                if (!key.EndsWith("num_batches_tracked", StringComparison.Ordinal)) state[key].copy_(Weight(key, shape));
            }
        if (name == "resnet50_os8")
        {
            // The same weights through a torch-format state-dict file into a classifier-less backbone.
            using var dir = new TempDir();
            TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(dir.File("w.pth"), new System.Collections.Hashtable(model.state_dict()));
            using var headless = new ResNet(depth, outputStride, numClasses: 0);
            headless.LoadTorchvision(dir.File("w.pth"));
            headless.eval();
            var input = TensorIndexFile.Read(Path.Combine(Dir, "resnet_io.bin"))["input"];
            using (torch.no_grad())
            {
                var err = (headless.Features(input).Layer4 - TensorIndexFile.Read(Path.Combine(Dir, "resnet_io.bin"))[$"{name}.layer4"]).abs().max().item<float>();
                Assert.True(err < 1e-3, $"loaded backbone differs by {err}");
            }
        }
        model.eval();
        var io = TensorIndexFile.Read(Path.Combine(Dir, "resnet_io.bin"));
        using (torch.no_grad())
        {
            var f = model.Features(io["input"]);
            var outputs = new Dictionary<string, torch.Tensor>
            {
                ["stem"] = f.Stem,
                ["layer1"] = f.Layer1,
                ["layer2"] = f.Layer2,
                ["layer3"] = f.Layer3,
                ["layer4"] = f.Layer4,
                ["logits"] = model.forward(io["input"]),
            };
            foreach (var (part, ours) in outputs)
            {
                var reference = io[$"{name}.{part}"];
                Assert.Equal(reference.shape, ours.shape);
                double scale = Math.Max(1, reference.abs().max().item<float>());
                double err = (ours - reference).abs().max().item<float>();
                Assert.True(err <= 1e-4 * scale, $"{name}.{part}: max error {err} (scale {scale})");
            }
        }
    }
}
