using Tessera.Diffusion.Models;
using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;
using Tessera.Runtime.Sharding;

namespace Tessera.Diffusion.Evaluation;

/// <summary>One (sampler, grid size) row's statistics over the samples of one shard (or of all samples).</summary>
/// <param name="Sampler">Sampler name.</param>
/// <param name="Steps">Noise levels of the Karras grid.</param>
/// <param name="Nfe">Network evaluations per sample.</param>
/// <param name="Count">Samples of the whole row (all shards).</param>
/// <param name="Features">Sufficient statistics of the classifier features of this part's samples.</param>
/// <param name="Correct">Class-conditional samples the classifier labelled as their class (−1: unconditional).</param>
/// <param name="Shard">The part ("I/N").</param>
public sealed record RowStatistics(string Sampler, int Steps, int Nfe, int Count, FeatureStatistics Features, long Correct, string Shard);

/// <summary>
/// Sample quality in parts: the samples of a row (sample i with seed seed + i, drawn by <see cref="DiffusionSampling"/>) are cut into
/// batches of consecutive indices, and the batches are dealt round-robin to the shards, so that every batch is computed
/// exactly as in a single process; each shard keeps only the float64 sufficient statistics of its features
/// (<see cref="FeatureStatistics"/>) and its correct-class count, which add exactly. The merged Fréchet distance
/// equals the single-process value up to float64 rounding.
/// </summary>
public static class ShardedSampleQuality
{
    /// <summary>
    /// Statistics of one row over the batches that belong to <paramref name="shard"/>: the Karras grid of <paramref name="steps"/>
    /// steps, or <paramref name="sigmas"/> when given (its steps then replace <paramref name="steps"/>).
    /// </summary>
    public static RowStatistics Row(DiffusionModel model, FashionClassifier classifier, string sampler, int steps, int count, long seed, double guidance,
        torch.Device device, Shard shard, int batch = 250, CancellationToken cancellation = default, IReadOnlyList<double>? sigmas = null)
    {
        var options = new DiffusionSamplingOptions { Sampler = sampler, Steps = steps, Sigmas = sigmas, Guidance = guidance, Batch = batch };
        options.Check(model);
        if (sigmas is not null) steps = sigmas.Count - 1;
        if (model.Config.Channels != 1 || model.Config.ImageSize != 28) throw new TesseraUserException("the sample-quality classifier reads 28×28 gray images; this model makes others");
        classifier.eval();
        var stats = new FeatureStatistics(FashionClassifier.FeatureDimension);
        long correct = 0;
        int nfe = 0, batches = (count + batch - 1) / batch;
        for (int k = 0; k < batches; k++)
        {
            if (!shard.Owns(k)) continue;
            int first = k * batch, b = Math.Min(batch, count - first);
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var seeds = DiffusionSampling.ConsecutiveSeeds(seed + first, b);
            var (samples, evaluations) = DiffusionSampling.SampleBatch(model, seeds, options, device, null, cancellation);
            nfe = evaluations;
            var f = classifier.Features(samples.clamp(-1, 1));
            if (DiffusionSampling.Labels(model, seeds, options, device) is { } labels) correct += classifier.Classify(f).argmax(1).eq(labels).sum().item<long>();
            stats.Add(f);
        }
        return new RowStatistics(sampler, steps, nfe, count, stats, model.Config.Classes > 0 ? correct : -1, shard.ToString());
    }

    /// <summary>The file of a row's part in a statistics folder.</summary>
    public static string FileName(string sampler, int steps, Shard shard) =>
        $"{sampler}-{steps.ToString(CultureInfo.InvariantCulture)}.shard-{shard.Index:D5}-of-{shard.Count:D5}.safetensors";

    /// <summary>Writes a row part (statistics in float64, the rest in the metadata).</summary>
    public static void Save(RowStatistics row, string path) => row.Features.Save(path, new Dictionary<string, string>
    {
        ["sampler"] = row.Sampler,
        ["steps"] = row.Steps.ToString(CultureInfo.InvariantCulture),
        ["nfe"] = row.Nfe.ToString(CultureInfo.InvariantCulture),
        ["row_count"] = row.Count.ToString(CultureInfo.InvariantCulture),
        ["correct"] = row.Correct.ToString(CultureInfo.InvariantCulture),
        ["shard"] = row.Shard,
    });

    /// <summary>Reads a row part written by <see cref="Save"/>.</summary>
    /// <exception cref="TesseraFormatException">The file is not a row part.</exception>
    public static RowStatistics Load(string path)
    {
        var stats = FeatureStatistics.Load(path);
        using var file = IO.SafeTensors.Load(path);
        var m = file.Metadata;
        string Get(string key) => m.TryGetValue(key, out var v) ? v : throw new TesseraFormatException(path, $"metadata '{key}' missing (not a diffusion eval shard)");
        int Int(string key) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new TesseraFormatException(path, $"metadata '{key}' is not an integer");
        long correct = long.TryParse(Get("correct"), NumberStyles.Integer, CultureInfo.InvariantCulture, out long c) ? c : throw new TesseraFormatException(path, "metadata 'correct' is not an integer");
        return new RowStatistics(Get("sampler"), Int("steps"), Int("nfe"), Int("row_count"), stats, correct, Get("shard"));
    }

    /// <summary>
    /// Merges row parts (from any number of shard folders) into the quality table against <paramref name="reference"/>:
    /// parts are grouped by (sampler, steps); each group must hold every shard 0 … N−1 exactly once.
    /// </summary>
    /// <exception cref="TesseraUserException">A shard is missing or repeated, or parts of one row disagree.</exception>
    public static List<SampleQualityRow> Merge(IReadOnlyList<string> paths, FeatureStatistics reference)
    {
        var rows = new List<SampleQualityRow>();
        var parts = paths.Select(p => (Path: p, Row: Load(p))).ToList();
        try
        {
            foreach (var group in parts.GroupBy(p => (p.Row.Sampler, p.Row.Steps)).OrderBy(g => g.Key.Sampler, StringComparer.Ordinal).ThenBy(g => g.Key.Steps))
            {
                var shards = group.Select(p => (p.Path, Shard: Shard.Parse(p.Row.Shard, $"{p.Path}: shard"))).ToList();
                int n = shards[0].Shard.Count;
                foreach (var (path, s) in shards)
                    if (s.Count != n) throw new TesseraFormatException(path, $"shard {s} is of {s.Count} shards, the others of {n}");
                foreach (var dup in shards.GroupBy(s => s.Shard.Index).Where(g => g.Count() > 1))
                    throw new TesseraFormatException(dup.Last().Path, $"shard {dup.Key}/{n} of {group.Key.Sampler} {group.Key.Steps} steps again");
                for (int i = 0; i < n; i++)
                    if (shards.All(s => s.Shard.Index != i)) throw new TesseraUserException($"{group.Key.Sampler} {group.Key.Steps} steps: shard {i}/{n} is missing");
                var first = group.First().Row;
                using var total = new FeatureStatistics(first.Features.Dimension);
                long correct = 0;
                foreach (var (path, row) in group)
                {
                    if (row.Count != first.Count) throw new TesseraFormatException(path, $"a row of {row.Count} samples, the others of {first.Count}");
                    total.Merge(row.Features);
                    correct += Math.Max(row.Correct, 0);
                }
                if (total.Count != first.Count) throw new TesseraUserException($"{group.Key.Sampler} {group.Key.Steps} steps: the shards hold {total.Count} samples, the row {first.Count}");
                rows.Add(new SampleQualityRow(first.Sampler, first.Steps, group.Max(p => p.Row.Nfe), total.FrechetDistanceTo(reference),
                    first.Correct < 0 ? double.NaN : (double)correct / first.Count, 0));
            }
        }
        finally
        {
            foreach (var p in parts) p.Row.Features.Dispose();
        }
        return rows;
    }
}
