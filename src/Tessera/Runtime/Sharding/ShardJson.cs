namespace Tessera.Runtime.Sharding;

/// <summary>The indented JSON files a shard leaves beside its outputs (<see cref="ShardSummary"/>, <see cref="ShardManifest"/>).</summary>
internal static class ShardJson
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>Writes <paramref name="value"/> to <paramref name="path"/> atomically.</summary>
    public static void Save<T>(T value, string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Options));

    /// <summary>Reads a <typeparamref name="T"/>; <paramref name="what"/> names it in errors ("shard summary").</summary>
    /// <exception cref="TesseraFormatException">The file is not one.</exception>
    public static T Load<T>(string path, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path)) ?? throw new TesseraFormatException(path, $"empty {what}");
        }
        catch (JsonException e)
        {
            throw new TesseraFormatException(path, $"not a {what} ({e.Message.Split('\n')[0]})", e);
        }
    }
}
