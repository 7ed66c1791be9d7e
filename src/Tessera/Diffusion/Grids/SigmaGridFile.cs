using System.Text.Json.Nodes;

namespace Tessera.Diffusion.Grids;

/// <summary>
/// A σ-grid stored as JSON: <c>{"sigmas": [σ₀, …, σₙ], …}</c> with σ non-increasing and non-negative (the last
/// usually 0); other fields (sampler, nfe, how it was made) are kept for the reader but not needed.
/// </summary>
public static class SigmaGridFile
{
    /// <summary>Reads the <c>sigmas</c> array of a grid file and checks it.</summary>
    /// <exception cref="TesseraFormatException">Missing, malformed, or not a valid σ-grid.</exception>
    public static double[] Read(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "grid file not found");
        double[] sigmas;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("sigmas", out var arr) || arr.ValueKind != JsonValueKind.Array)
                throw new TesseraFormatException(path, "expected a JSON object with a 'sigmas' array");
            sigmas = arr.EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }
        catch (JsonException e) { throw new TesseraFormatException(path, $"not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw new TesseraFormatException(path, $"'sigmas' must hold numbers ({e.Message})", e); }
        try { SigmaGrids.Check(sigmas); }
        catch (TesseraUserException e) { throw new TesseraFormatException(path, $"'sigmas': {e.Detail}", e); }
        return sigmas;
    }

    /// <summary>Writes a grid file with <paramref name="extra"/> fields beside <c>sigmas</c> (atomically).</summary>
    public static void Write(string path, IReadOnlyList<double> sigmas, IReadOnlyDictionary<string, JsonNode?>? extra = null)
    {
        var json = new JsonObject();
        if (extra is not null) foreach (var (k, v) in extra) json[k] = v?.DeepClone();
        json["sigmas"] = new JsonArray(sigmas.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        Tessera.IO.AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Formats a grid for a log line.</summary>
    public static string Describe(IReadOnlyList<double> sigmas) => string.Join(" ", sigmas.Select(s => s.ToString("0.####", CultureInfo.InvariantCulture)));
}
