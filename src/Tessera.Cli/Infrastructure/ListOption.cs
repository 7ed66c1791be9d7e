namespace Tessera.Cli.Infrastructure;

/// <summary>The one parser of comma-separated option values (<c>--multipliers 1,2,4</c>, <c>--point 10,20,1</c>, <c>--samplers heun,euler</c>).</summary>
internal static class ListOption
{
    /// <summary>Integers of at least <paramref name="min"/>; null when <paramref name="text"/> is null, empty or malformed.</summary>
    public static int[]? TryInts(string? text, int min = 1)
    {
        if (text is null) return null;
        var parts = Items(text);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out values[i]) || values[i] < min) return null;
        return values.Length == 0 ? null : values;
    }

    /// <summary>Integers of at least <paramref name="min"/>.</summary>
    /// <exception cref="TesseraUserException">"FLAG 'TEXT': expected …" when malformed.</exception>
    public static int[] Ints(string flag, string text, int min = 1) =>
        TryInts(text, min) ?? throw new TesseraUserException(Expected(flag, text, min));

    /// <summary>The message for a malformed integer list.</summary>
    public static string Expected(string flag, string text, int min = 1) =>
        $"{flag} '{text}': expected {(min == 1 ? "positive integers" : $"integers of at least {min}")} separated by commas";

    /// <summary>Between <paramref name="min"/> and <paramref name="max"/> finite numbers; <paramref name="form"/> says what they mean in the error.</summary>
    /// <exception cref="TesseraUserException">"FLAG 'TEXT': expected N comma-separated numbers (FORM)" when malformed.</exception>
    public static double[] Numbers(string flag, string text, int min, int max, string form)
    {
        var parts = text.Split(',');
        var values = new double[parts.Length];
        bool ok = parts.Length >= min && parts.Length <= max;
        for (int i = 0; ok && i < parts.Length; i++)
            ok = double.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) && double.IsFinite(values[i]);
        if (!ok) throw new TesseraUserException($"{flag} '{text}': expected {(min == max ? $"{min}" : $"{min} or {max}")} comma-separated numbers ({form})");
        return values;
    }

    /// <summary>The non-empty, trimmed items.</summary>
    public static string[] Items(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
