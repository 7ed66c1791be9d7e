namespace Tessera.Runtime.Sharding;

/// <summary>
/// What one shard produced: for each of its items, the outputs it wrote (relative paths). The manifests of all
/// shards together allow a completeness check of the whole job: every item owned by exactly one shard, every
/// listed output present.
/// </summary>
public sealed record ShardManifest
{
    /// <summary>"I/N".</summary>
    [JsonPropertyName("shard")] public string Shard { get; init; } = "0/1";
    /// <summary>Items in the whole job (all shards).</summary>
    [JsonPropertyName("total_items")] public int TotalItems { get; init; }
    /// <summary>Item name → outputs, relative to the output folder.</summary>
    [JsonPropertyName("items")] public IReadOnlyDictionary<string, string[]> Items { get; init; } = new Dictionary<string, string[]>();
    /// <summary>Items that failed, with the reason.</summary>
    [JsonPropertyName("failed")] public IReadOnlyDictionary<string, string> Failed { get; init; } = new Dictionary<string, string>();

    /// <summary>The file name of a shard's manifest in an output folder.</summary>
    public static string FileName(Shard shard) => $"manifest.shard-{shard.Index:D5}-of-{shard.Count:D5}.json";

    /// <summary>Writes the manifest atomically.</summary>
    public void Save(string path) => ShardJson.Save(this, path);

    /// <summary>Reads a manifest.</summary>
    /// <exception cref="TesseraFormatException">The file is not a manifest.</exception>
    public static ShardManifest Load(string path) => ShardJson.Load<ShardManifest>(path, "shard manifest");

    /// <summary>
    /// Checks the manifests in <paramref name="outputDir"/> against the job's items: returns one line per problem
    /// (a missing shard, an item in no shard or in two, a listed output that is absent, a failed item); empty when complete.
    /// </summary>
    public static List<string> Check(string outputDir, IReadOnlyCollection<string> allItems)
    {
        var problems = new List<string>();
        var files = Directory.Exists(outputDir) ? Directory.GetFiles(outputDir, "manifest.shard-*.json").Order(StringComparer.Ordinal).ToList() : [];
        if (files.Count == 0) { problems.Add($"{outputDir}: no shard manifests (manifest.shard-*.json)"); return problems; }
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        var counts = new HashSet<int>();
        var seenShards = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var m = Load(file);
            seenShards.Add(m.Shard);
            counts.Add(int.Parse(m.Shard.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture));
            foreach (var (item, outputs) in m.Items)
            {
                if (owner.TryGetValue(item, out var other)) problems.Add($"{item}: produced by shard {other} and by shard {m.Shard}");
                else owner[item] = m.Shard;
                foreach (var o in outputs)
                    if (!File.Exists(Path.Combine(outputDir, o))) problems.Add($"{item}: output {o} is missing");
            }
            foreach (var (item, why) in m.Failed) problems.Add($"{item}: failed in shard {m.Shard}: {why}");
        }
        if (counts.Count > 1) problems.Add($"manifests disagree on the shard count ({string.Join(", ", counts.Order())})");
        else
        {
            int n = counts.Single();
            for (int i = 0; i < n; i++)
                if (!seenShards.Contains($"{i}/{n}")) problems.Add($"shard {i}/{n}: no manifest (not finished)");
        }
        foreach (var item in allItems)
            if (!owner.ContainsKey(item)) problems.Add($"{item}: in no shard's manifest");
        foreach (var item in owner.Keys)
            if (!allItems.Contains(item)) problems.Add($"{item}: in a manifest but not an input");
        return problems;
    }
}
