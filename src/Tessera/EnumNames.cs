using System.Reflection;

namespace Tessera;

/// <summary>
/// The one place where the library's kinds (enums) meet their names in text: command-line values, checkpoint
/// metadata and JSON. A member's name is its <see cref="JsonStringEnumMemberNameAttribute"/> when it has one (so
/// JSON and the command line agree, and checkpoints keep the strings they always held), else the member name in
/// lower case.
/// </summary>
internal static class EnumNames
{
    /// <summary>The name of <paramref name="value"/>.</summary>
    public static string Name<T>(T value) where T : struct, Enum
    {
        string member = value.ToString();
        var field = typeof(T).GetField(member, BindingFlags.Public | BindingFlags.Static);
        return field?.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? member.ToLowerInvariant();
    }

    /// <summary>The names of every member of <typeparamref name="T"/>, in declaration order.</summary>
    public static IReadOnlyList<string> Names<T>() where T : struct, Enum => [.. Enum.GetValues<T>().Select(Name)];

    /// <summary>The member named <paramref name="text"/> (its name, or the C# member name, in any case).</summary>
    /// <param name="parameter">The library parameter or property the text is for (as in <c>nameof</c>); errors name it.</param>
    /// <param name="text">The name.</param>
    /// <param name="noun">What a name names, for the message ("'x' is not a NOUN; expected a, b, c").</param>
    /// <exception cref="TesseraUserException">Not a name of <typeparamref name="T"/>; the message lists the names.</exception>
    public static T Parse<T>(string parameter, string? text, string noun = "known name") where T : struct, Enum =>
        TryParse(text, out T value) ? value
            : throw new TesseraUserException(parameter, $"'{text}' is not a {noun}; expected {string.Join(", ", Names<T>())}");

    /// <summary>Whether <paramref name="text"/> names a member of <typeparamref name="T"/>, and which.</summary>
    public static bool TryParse<T>(string? text, out T value) where T : struct, Enum
    {
        string t = text?.Trim() ?? "";
        foreach (var v in Enum.GetValues<T>())
        {
            if (string.Equals(Name(v), t, StringComparison.OrdinalIgnoreCase) || string.Equals(v.ToString(), t, StringComparison.OrdinalIgnoreCase))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }
}
