using System.Text.Json.Serialization;

namespace Tessera.Cli.Infrastructure;

/// <summary>
/// The closed sets of option values that have no library kind of their own, read with <see cref="EnumNames"/> like
/// every other option naming a kind (the member's name attribute is its command-line spelling).
/// </summary>
internal static class OptionChoices
{
    /// <summary>Which Fashion-MNIST images <c>seg make-dataset</c> builds scenes from.</summary>
    public enum SceneSplit
    {
        /// <summary>Fashion-MNIST's training images.</summary>
        [JsonStringEnumMemberName("train")] Train,
        /// <summary>Fashion-MNIST's test images.</summary>
        [JsonStringEnumMemberName("val")] Val,
    }

    /// <summary>What <c>seg eval</c> does with a file that has no partner.</summary>
    public enum OnMissing
    {
        /// <summary>Stop, naming the file.</summary>
        [JsonStringEnumMemberName("error")] Error,
        /// <summary>Evaluate the pairs and count the rest.</summary>
        [JsonStringEnumMemberName("skip")] Skip,
    }

    /// <summary>
    /// The member named <paramref name="text"/>, or a validation error "FLAG: 'TEXT' is not a NOUN; expected a, b".
    /// </summary>
    public static ValidationResult Check<T>(string flag, string? text, string noun) where T : struct, Enum =>
        EnumNames.TryParse<T>(text, out _) ? ValidationResult.Success()
            : ValidationResult.Error($"{flag}: '{text}' is not a {noun}; expected {string.Join(", ", EnumNames.Names<T>())}");
}
