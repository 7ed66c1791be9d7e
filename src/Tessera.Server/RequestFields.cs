using Tessera.Segmentation.Sam.Inference;

namespace Tessera.Server;

/// <summary>
/// The request field of each library parameter that a <see cref="TesseraUserException"/> about a request's values can
/// name, so the library's "Points: 500,1 is outside the 100×70 image" reaches an HTTP client as "points: …" (as the
/// command line's ParameterFlags turns it into "--point: …").
/// </summary>
internal static class RequestFields
{
    private static readonly Dictionary<string, string> Fields = new(StringComparer.Ordinal)
    {
        [nameof(SamPrompt.Points)] = "points",
        [nameof(SamPrompt.Box)] = "box",
        [nameof(SamPrompt.MaskInput)] = "mask_input",
    };

    /// <summary>"FIELD: detail" when the exception names a parameter with a request field, else its message.</summary>
    public static string Message(TesseraUserException e) =>
        e.Parameter is string p && Fields.TryGetValue(p, out var field) ? $"{field}: {e.Detail}" : e.Message;
}
