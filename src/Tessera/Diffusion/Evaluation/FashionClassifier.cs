using static TorchSharp.torch.nn;

namespace Tessera.Diffusion.Evaluation;

/// <summary>
/// A small Fashion-MNIST classifier whose 128-d penultimate features serve the Fréchet distance of generated
/// images: conv 3×3 (32) → ReLU → max-pool → conv 3×3 (64) → ReLU → max-pool → linear 128 → ReLU (features) →
/// linear 10. Inputs are [B, 1, 28, 28] in [−1, 1].
/// </summary>
public sealed class FashionClassifier : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly Linear fc1, fc2;

    /// <summary>Default cache file: ~/.cache/tessera/fashion-classifier.safetensors.</summary>
    public static string DefaultPath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "tessera", "fashion-classifier.safetensors");

    /// <summary>Length of the penultimate-layer feature vector.</summary>
    public const int FeatureDimension = 128;

    /// <summary>Creates the network (random weights).</summary>
    public FashionClassifier() : base(nameof(FashionClassifier))
    {
        conv1 = Conv2d(1, 32, 3, padding: 1);
        conv2 = Conv2d(32, 64, 3, padding: 1);
        fc1 = Linear(64 * 7 * 7, FeatureDimension);
        fc2 = Linear(FeatureDimension, 10);
        RegisterComponents();
    }

    /// <summary>Penultimate-layer features [B, 128].</summary>
    public torch.Tensor Features(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = functional.max_pool2d(functional.relu(conv1.forward(x)), 2);
        h = functional.max_pool2d(functional.relu(conv2.forward(h)), 2);
        return functional.relu(fc1.forward(h.flatten(1))).MoveToOuterDisposeScope();
    }

    /// <summary>Class logits [B, 10].</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var f = Features(x);
        return fc2.forward(f);
    }

    /// <summary>Logits from features.</summary>
    public torch.Tensor Classify(torch.Tensor features) => fc2.forward(features);

    /// <summary>
    /// Trains on Fashion-MNIST's training split (Adam 10⁻³, batch 128, <paramref name="epochs"/> epochs, seeded),
    /// saves to <paramref name="path"/> atomically, and returns the test accuracy. <paramref name="limit"/> &gt; 0 uses only the first images.
    /// <paramref name="progress"/> hears every 50th batch and the last; <paramref name="cancellation"/> stops between batches.
    /// </summary>
    public static (FashionClassifier Model, double TestAccuracy) Train(string path, int epochs = 3, long seed = 0, string? data = null, IProgress<ClassifierTrainingProgress>? progress = null,
        torch.Device? device = null, CancellationToken cancellation = default, int limit = 0)
    {
        device ??= torch.CPU;
        // Initialisation draws from the global generator, seeded only while the model is built.
        var model = Tessera.Training.StepRandom.Seeded(seed, () => new FashionClassifier());
        model.to(device);
        using var train = FashionMnist.Load(Split.Train, data);
        long n = limit > 0 ? Math.Min(limit, train.Count) : train.Count;
        using var images = train.ImagesAsFloat(null, -1f, 1f).narrow(0, 0, n);
        using var labels = train.Labels.to(torch.ScalarType.Int64).narrow(0, 0, n);
        var batcher = new Batcher(images, labels, new BatcherOptions(128, Shuffle: true, Seed: (ulong)seed), device);
        using var opt = torch.optim.Adam(model.parameters(), 1e-3);
        long total = epochs * batcher.BatchesPerEpoch, done = 0;
        for (int e = 0; e < epochs; e++)
            foreach (var batch in batcher.Epoch(e, cancellation))
            {
                using var scope = torch.NewDisposeScope();
                using (batch)
                {
                    model.train();
                    opt.zero_grad();
                    var loss = functional.cross_entropy(model.forward(batch.Inputs), batch.Targets!);
                    loss.backward();
                    opt.step();
                    done++;
                    if (done % 50 == 0 || done == total) progress?.Report(new ClassifierTrainingProgress(done, total, loss.item<float>()));
                }
            }
        double accuracy = TestAccuracy(model, data, device);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        Checkpoint.Save(model, path, new Dictionary<string, string> { ["format"] = "tessera.fashion-classifier", ["test_accuracy"] = accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture) });
        return (model, accuracy);
    }

    /// <summary>Accuracy on Fashion-MNIST's test split.</summary>
    public static double TestAccuracy(FashionClassifier model, string? data, torch.Device device)
    {
        model.eval();
        using var test = FashionMnist.Load(Split.Test, data);
        using var x = test.ImagesAsFloat(null, -1f, 1f);
        long correct = 0;
        using var _ = torch.no_grad();
        for (long i = 0; i < test.Count; i += 500)
        {
            using var scope = torch.NewDisposeScope();
            long n = Math.Min(500, test.Count - i);
            var pred = model.forward(x.narrow(0, i, n).to(device)).argmax(1).cpu();
            correct += pred.eq(test.Labels.narrow(0, i, n).to(torch.ScalarType.Int64)).sum().item<long>();
        }
        return (double)correct / test.Count;
    }

    /// <summary>Loads weights saved by <see cref="Train"/> onto <paramref name="device"/> (default: the CPU), in evaluation mode.</summary>
    /// <exception cref="TesseraFormatException">Missing or not a classifier file.</exception>
    public static FashionClassifier Load(string path, torch.Device? device = null)
    {
        if (!File.Exists(path)) throw new TesseraUserException($"{path}: no classifier; run `tessera classifier train` first (it caches one there)");
        var model = new FashionClassifier();
        Checkpoint.Load(model, path);
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }
}
