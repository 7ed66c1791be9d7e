namespace Tessera.Runtime.Sharding;

/// <summary>
/// What one shard did, written last (atomically) so that its presence means the shard finished:
/// items assigned, done now, already done before (skipped on restart), failed (with their reasons), and seconds.
/// </summary>
public sealed record ShardSummary
{
    /// <summary>"I/N".</summary>
    [JsonPropertyName("shard")] public string Shard { get; init; } = "0/1";
    /// <summary>Items this shard owns.</summary>
    [JsonPropertyName("assigned")] public int Assigned { get; init; }
    /// <summary>Items finished by this run.</summary>
    [JsonPropertyName("done")] public int Done { get; init; }
    /// <summary>Items found finished by an earlier run and skipped.</summary>
    [JsonPropertyName("skipped")] public int Skipped { get; init; }
    /// <summary>Items that failed, by name, with the reason.</summary>
    [JsonPropertyName("failed")] public IReadOnlyDictionary<string, string> Failed { get; init; } = new Dictionary<string, string>();
    /// <summary>Wall-clock seconds of this run.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    /// <summary>The file name of a shard's summary in an output folder.</summary>
    public static string FileName(Shard shard) => shard.IsSharded ? $"summary.shard-{shard.Index:D5}-of-{shard.Count:D5}.json" : "summary.json";

    /// <summary>Writes the summary atomically.</summary>
    public void Save(string path) => ShardJson.Save(this, path);

    /// <summary>Reads a summary.</summary>
    /// <exception cref="TesseraFormatException">The file is not a summary.</exception>
    public static ShardSummary Load(string path) => ShardJson.Load<ShardSummary>(path, "shard summary");
}
