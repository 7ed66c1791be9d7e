using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;

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

    /// <summary>Feature statistics of the first <paramref name="count"/> test images (the reference of the Fréchet distance).</summary>
    public static FeatureStatistics TestStatistics(FashionClassifier classifier, int count, string? data, torch.Device device)
    {
        using var features = TestFeatures(classifier, count, data, device);
        var stats = new FeatureStatistics(FashionClassifier.FeatureDimension);
        stats.Add(features);
        return stats;
    }

    /// <summary>
    /// The reference statistics of an evaluation: read from <paramref name="file"/> when it exists; otherwise those of the first
    /// <paramref name="count"/> test images, written to <paramref name="file"/> when one is given (<c>Written</c> says so).
    /// </summary>
    public static (FeatureStatistics Statistics, bool Written) ReferenceStatistics(FashionClassifier classifier, int count, string? data, torch.Device device, string? file)
    {
        if (file is not null && File.Exists(file)) return (FeatureStatistics.Load(file), false);
        var stats = TestStatistics(classifier, count, data, device);
        if (file is not null) stats.Save(file, new Dictionary<string, string> { ["source"] = $"Fashion-MNIST test images, first {count}" });
        return (stats, file is not null);
    }

    /// <summary>
    /// Evaluates <paramref name="count"/> samples (sample i: seed <paramref name="seed"/> + i) for each sampler and step count against
    /// <paramref name="reference"/> (null: the first <paramref name="count"/> test images), in one process: the same computation as the
    /// shards of <see cref="ShardedSampleQuality"/> and their merge. With <paramref name="sigmas"/> every sampler runs down that grid
    /// instead (one row each; <paramref name="steps"/> is not used). <paramref name="progress"/> hears each row when it is done.
    /// </summary>
    public static List<SampleQualityRow> Evaluate(DiffusionModel model, FashionClassifier classifier, IEnumerable<string> samplers, IEnumerable<int> steps, int count,
        long seed, double guidance, string? data, torch.Device device, int batch = 250, IProgress<SampleQualityRow>? progress = null, FeatureStatistics? reference = null,
        CancellationToken cancellation = default, IReadOnlyList<double>? sigmas = null)
    {
        // With an explicit grid every sampler runs down it: one row per sampler, its steps the grid's.
        if (sigmas is not null) steps = [sigmas.Count - 1];
        if (model.Config.Channels != 1 || model.Config.ImageSize != 28) throw new TesseraUserException("the sample-quality classifier reads 28×28 gray images; this model makes others");
        var owned = reference is null ? TestStatistics(classifier, count, data, device) : null;
        var refStats = reference ?? owned!;
        try
        {
            var rows = new List<SampleQualityRow>();
            foreach (string sampler in samplers)
                foreach (int n in steps)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    var part = ShardedSampleQuality.Row(model, classifier, sampler, n, count, seed, guidance, device, Runtime.Sharding.Shard.All, batch, cancellation, sigmas);
                    using (part.Features)
                    {
                        var row = new SampleQualityRow(sampler, n, part.Nfe, part.Features.FrechetDistanceTo(refStats),
                            part.Correct < 0 ? double.NaN : (double)part.Correct / count, sw.Elapsed.TotalSeconds);
                        rows.Add(row);
                        progress?.Report(row);
                    }
                }
            return rows;
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>
    /// The Fréchet distance of a folder of generated images (the PNGs <c>diffusion sample</c> writes into its output folder,
    /// one per seed) against <paramref name="reference"/>: every <c>*.png</c> of <paramref name="folder"/>, read as 28×28
    /// gray. <paramref name="progress"/> hears the images read so far.
    /// </summary>
    /// <exception cref="TesseraUserException">The folder does not exist or holds fewer than 2 PNGs (parameter <paramref name="folder"/>).</exception>
    /// <exception cref="TesseraFormatException">An image that is not 28×28 (named).</exception>
    public static (int Count, double FrechetDistance) EvaluateFolder(FashionClassifier classifier, string folder, FeatureStatistics reference, torch.Device device,
        IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        if (!Directory.Exists(folder)) throw new TesseraUserException(nameof(folder), $"'{folder}' is not a folder");
        var files = Directory.GetFiles(folder, "*.png").Order(StringComparer.Ordinal).ToArray();
        if (files.Length < 2) throw new TesseraUserException(nameof(folder), $"'{folder}' holds {files.Length} PNG image(s); expected at least 2");
        classifier.eval();
        using var stats = new FeatureStatistics(FashionClassifier.FeatureDimension);
        const int Batch = 500;
        for (int first = 0; first < files.Length; first += Batch)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var images = files.Skip(first).Take(Batch).Select(f =>
            {
                var image = ImageIO.Load(f, ColorMode.Gray);
                if (image.shape[1] != 28 || image.shape[2] != 28) throw new TesseraFormatException(f, $"{image.shape[2]}×{image.shape[1]}; the sample-quality classifier reads 28×28 gray images");
                return image;
            }).ToList();
            // Bytes to [−1, 1] with the arithmetic of the test images (FashionMnist.ImagesAsFloat), so the same images give the same features.
            var x = torch.stack(images).to(torch.ScalarType.Float32).div(255f).mul(2f).add(-1f).to(device);
            stats.Add(classifier.Features(x));
            progress?.Report(Math.Min(files.Length, first + Batch));
        }
        return (files.Length, stats.FrechetDistanceTo(reference));
    }
}
