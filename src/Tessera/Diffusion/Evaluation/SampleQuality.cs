using Tessera.Data;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;
using TorchSharp;

namespace Tessera.Diffusion.Evaluation;

/// <summary>One row of a sample-quality table.</summary>
/// <param name="Sampler">Sampler name.</param>
/// <param name="Steps">Noise levels of the Karras grid.</param>
/// <param name="Nfe">Network evaluations per sample.</param>
/// <param name="FrechetDistance">Fréchet distance of classifier features, generated against test images.</param>
/// <param name="ClassAccuracy">Classifier accuracy on class-conditional samples (NaN for unconditional models).</param>
/// <param name="Seconds">Wall time of the sampling.</param>
public sealed record SampleQualityRow(string Sampler, int Steps, int Nfe, double FrechetDistance, double ClassAccuracy, double Seconds);

/// <summary>
/// Sample quality of a Fashion-MNIST diffusion model measured with Tessera's own classifier: the Fréchet distance
/// between its penultimate-layer features of generated and test images (the statistic of FID, on another
/// network — not comparable with published FID values), and the classifier's accuracy on class-conditional samples.
/// </summary>
public static class SampleQuality
{
    /// <summary>Classifier features of the first <paramref name="count"/> test images.</summary>
    public static torch.Tensor TestFeatures(FashionClassifier classifier, int count, string? data, torch.Device device)
    {
        using var test = FashionMnist.Load(Split.Test, data);
        using var x = test.ImagesAsFloat(null, -1f, 1f);
        int n = (int)Math.Min(count, test.Count);
        return Features(classifier, x.narrow(0, 0, n), device);
    }

    /// <summary>
    /// The same statistic between real images: the first <paramref name="count"/> training images against the first
    /// <paramref name="count"/> test images — the floor a perfect generator would reach at this sample size.
    /// </summary>
    public static double ReferenceDistance(FashionClassifier classifier, int count, string? data, torch.Device device)
    {
        using var train = FashionMnist.Load(Split.Train, data);
        using var x = train.ImagesAsFloat(null, -1f, 1f);
        using var real = Features(classifier, x.narrow(0, 0, Math.Min(count, train.Count)), device);
        using var test = TestFeatures(classifier, count, data, device);
        return FrechetDistance.Compute(real, test);
    }

    private static torch.Tensor Features(FashionClassifier classifier, torch.Tensor images, torch.Device device)
    {
        var parts = new List<torch.Tensor>();
        using var _ = torch.no_grad();
        for (long i = 0; i < images.shape[0]; i += 500)
            parts.Add(classifier.Features(images.narrow(0, i, Math.Min(500, images.shape[0] - i)).to(device)).cpu());
        var all = torch.cat(parts);
        foreach (var p in parts) p.Dispose();
        return all;
    }

    /// <summary>Evaluates <paramref name="count"/> samples (per-sample seeds from <paramref name="seed"/>) for each sampler and step count.</summary>
    public static List<SampleQualityRow> Evaluate(DiffusionModel model, FashionClassifier classifier, IEnumerable<string> samplers, IEnumerable<int> steps, int count,
        long seed, double guidance, string? data, torch.Device device, int batch = 250, Action<SampleQualityRow>? onRow = null)
    {
        if (model.Config.Channels != 1 || model.Config.ImageSize != 28) throw new TesseraUserException("the sample-quality classifier reads 28×28 gray images; this model makes others");
        using var reference = TestFeatures(classifier, count, data, device);
        var rows = new List<SampleQualityRow>();
        var (sMin, sMax) = model.Config.SigmaRange;
        model.eval();
        classifier.eval();
        foreach (string sampler in samplers)
            foreach (int n in steps)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var features = new List<torch.Tensor>();
                long correct = 0;
                int nfe = 0;
                for (int first = 0; first < count; first += batch)
                {
                    int b = Math.Min(batch, count - first);
                    using var scope = torch.NewDisposeScope();
                    using var _ = torch.no_grad();
                    torch.Tensor? labels = model.Config.Classes > 0 ? torch.arange(first, first + b, device: device).remainder(model.Config.Classes) : null;
                    var counting = new CountingDenoiser(model.AsDenoiser(labels, guidance));
                    var noise = PerSampleNoise.Consecutive(seed + first, b, device);
                    var sigmas = SigmaGrids.Karras(n, sMin, sMax);
                    var x = noise.Next(torch.empty(b, 1, 28, 28, device: device)) * sigmas[0];
                    var images = SamplerRegistry.Sample(sampler, counting.AsDenoiser(), x, sigmas, noise).clamp(-1, 1);
                    nfe = counting.Evaluations;
                    var f = classifier.Features(images);
                    if (labels is not null) correct += classifier.Classify(f).argmax(1).eq(labels).sum().item<long>();
                    features.Add(f.cpu().MoveToOuterDisposeScope());
                }
                using var generated = torch.cat(features);
                foreach (var f in features) f.Dispose();
                var row = new SampleQualityRow(sampler, n, nfe, FrechetDistance.Compute(generated, reference),
                    model.Config.Classes > 0 ? (double)correct / count : double.NaN, sw.Elapsed.TotalSeconds);
                rows.Add(row);
                onRow?.Invoke(row);
            }
        return rows;
    }
}
