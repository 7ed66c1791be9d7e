using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

/// <summary>
/// What a segmentation checkpoint records and how it is read back: the model kind (an unknown one is an error, not an
/// FCN), the classes (<see cref="LabelSet"/>), checkpoints of earlier versions; and dataset training from a user's own
/// <see cref="ISegmentationDataset"/> and from a pretrained checkpoint.
/// </summary>
// Serial: the trainer seeds libtorch's global generator.
[Collection("serial")]
public sealed class SegModelConfigTests
{
    [Fact]
    public void An_unknown_model_kind_is_an_error_naming_the_model()
    {
        var bad = new SegModelConfig { Model = (SegModelKind)99, K = 3, BaseWidth = 16 };
        Assert.Equal(nameof(SegModelConfig.Model), Assert.Throws<TesseraUserException>(() => bad.Build()).Parameter);
        string json = new SegModelConfig { K = 3 }.ToJson().Replace("\"gcn\"", "\"unet\"", StringComparison.Ordinal);
        Assert.Contains("model config", Assert.Throws<TesseraFormatException>(() => SegModelConfig.FromJson(json, "x.safetensors")).Message);
    }

    [Fact]
    public void A_checkpoint_of_an_earlier_version_loads_with_the_scene_classes()
    {
        // The keys tessera seg train wrote before checkpoints had tessera.kind and tessera.model, and no class names.
        using var dir = new TempDir();
        var config = new SegModelConfig { Model = SegModelKind.Gcn, K = 3, BaseWidth = 16 };
        using (var net = config.Build())
            TrainingCheckpoint.Save(dir.File("old.safetensors"), net, null, 0, new Dictionary<string, string> { ["format"] = "tessera.segmentation", ["config"] = config.ToJson() });
        using var model = SegmentationModel.Load(dir.File("old.safetensors"));
        Assert.Equal(11, model.Labels.Names.Count);
        Assert.Equal("background", model.Labels.Names[0]);
        Assert.Equal(InferenceMode.Whole, model.Inference.Mode);
        Assert.Null(model.Labels.Layout);
    }

    /// <summary>A dataset held in memory, as a user's own class would be: 24×20 random images, labels 0–2 and 255.</summary>
    private sealed class MemoryDataset : ISegmentationDataset
    {
        private readonly List<SegmentationSample> _samples = [];

        public MemoryDataset(string split, int count, ulong seed)
        {
            Split = split;
            var random = new Random((int)seed);
            for (int i = 0; i < count; i++)
            {
                var rgb = new byte[24 * 20 * 3];
                random.NextBytes(rgb);
                var label = Enumerable.Range(0, 24 * 20).Select(p => (byte)(p % 17 == 0 ? 255 : (p / 24 + i) % 3)).ToArray();
                _samples.Add(new SegmentationSample(24, 20, rgb, label));
            }
        }

        public DatasetLayout Layout => DatasetLayout.Custom;
        public string Split { get; }
        public int Count => _samples.Count;
        public SegmentationItem this[int index] => new($"memory/{Split}/{index}.png", $"memory/{Split}/{index}.png");
        public IReadOnlyList<string> ClassNames { get; } = ["sky", "road", "tree"];
        public IReadOnlyList<byte[]> Palette { get; } = [[10, 20, 30], [40, 50, 60], [70, 80, 90]];
        public bool ReduceZeroLabel => false;
        public SegmentationSample Load(int index) => _samples[index];
    }

    private static SegDatasetTrainOptions Tiny(string? pretrained = null) => new()
    {
        Model = new SegModelConfig { Model = SegModelKind.Fcn, BaseWidth = 16 },
        // A learning rate too small to move a float32 weight: the run's weights are the ones it started from.
        Training = SegDatasetTrainOptions.DefaultTraining with { Steps = 1, Batch = 2, LearningRate = 1e-30, WeightDecay = 0, EvalEvery = 1, CheckpointEvery = 1, Seed = 3 },
        CropHeight = 16,
        CropWidth = 16,
        ScaleWidth = 24,
        ScaleHeight = 20,
        LoaderThreads = 1,
        Pretrained = pretrained,
    };

    private static Dictionary<string, float[]> Weights(string checkpoint)
    {
        using var file = SafeTensors.Load(checkpoint);
        return file.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) && kv.Value.dtype == torch.ScalarType.Float32 && !kv.Key.Contains("running", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
    }

    [Fact]
    public void Dataset_training_takes_a_user_dataset_object_and_starts_from_a_pretrained_checkpoint()
    {
        using var dir = new TempDir();
        var train = new MemoryDataset("train", 4, 1);
        var val = new MemoryDataset("val", 2, 2);
        var first = new SegDatasetTrainer(train, val, Tiny());
        Assert.NotNull(first.Train(dir.File("a"), resume: false));
        string a = Path.Combine(dir.File("a"), "checkpoint.safetensors");
        // The user's class names and colours are what the checkpoint records, and what a loaded model names.
        using (var model = SegmentationModel.Load(a))
        {
            Assert.Equal(["sky", "road", "tree"], model.Labels.Names);
            Assert.Equal(["#0a141e", "#28323c", "#46505a"], model.Labels.Colors);
        }

        // Seeded differently, a new model starts elsewhere; from the pretrained checkpoint it starts at its weights.
        var fresh = new SegDatasetTrainer(train, val, Tiny() with { Training = Tiny().Training with { Seed = 4 } });
        fresh.Train(dir.File("b"), resume: false);
        var tuned = new SegDatasetTrainer(train, val, Tiny(a) with { Training = Tiny().Training with { Seed = 4 } });
        tuned.Train(dir.File("c"), resume: false);
        var wa = Weights(a);
        var wb = Weights(Path.Combine(dir.File("b"), "checkpoint.safetensors"));
        var wc = Weights(Path.Combine(dir.File("c"), "checkpoint.safetensors"));
        Assert.NotEmpty(wa);
        static float Distance(float[] x, float[] y) => x.Zip(y).Max(p => Math.Abs(p.First - p.Second));
        // A step of learning rate 1e-30 moves a weight by about 1e-32 (zero-initialised biases show it); a new
        // initialisation moves weights by about 1e-2.
        Assert.Contains(wa.Keys, k => Distance(wa[k], wb[k]) > 1e-3);
        Assert.All(wa.Keys, k => Assert.True(Distance(wa[k], wc[k]) < 1e-20, $"{k} moved by {Distance(wa[k], wc[k])}"));

        // A pretrained checkpoint of another network is refused, naming the file.
        var other = Tiny(a) with { Model = new SegModelConfig { Model = SegModelKind.Fcn, BaseWidth = 32 } };
        Assert.Contains("checkpoint.safetensors", Assert.ThrowsAny<TesseraUserException>(() => new SegDatasetTrainer(train, val, other).Train(dir.File("d"), resume: false)).Message);
    }
}
