namespace Tessera.Diffusion.Sampling;

/// <summary>Seed lists as EDM's <c>generate.py</c> writes them: "0-49999", "1,5,7-9".</summary>
public static class SeedList
{
    /// <summary>The most seeds one list may name.</summary>
    public const long MaxSeeds = 100_000_000;

    /// <summary>Parses a comma-separated list of seeds and inclusive ranges into distinct seeds sorted by value.</summary>
    /// <exception cref="TesseraUserException">A part is not a seed or a range, or the list is empty.</exception>
    public static IReadOnlyList<long> Parse(string text, string parameter = "Seeds")
    {
        var seeds = new SortedSet<long>();
        foreach (string raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = raw.IndexOf('-', 1);
            if (dash > 0)
            {
                if (!long.TryParse(raw[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out long lo)
                    || !long.TryParse(raw[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out long hi) || hi < lo)
                    throw new TesseraUserException(parameter, $"'{raw}' is not a range; expected A-B with 0 ≤ A ≤ B");
                if (hi - lo + 1 + seeds.Count > MaxSeeds) throw new TesseraUserException(parameter, $"more than {MaxSeeds} seeds");
                for (long s = lo; s <= hi; s++) seeds.Add(s);
            }
            else if (long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out long s)) seeds.Add(s);
            else throw new TesseraUserException(parameter, $"'{raw}' is not a seed; expected numbers and ranges such as 0-49999 or 1,5,7-9");
        }
        if (seeds.Count == 0) throw new TesseraUserException(parameter, $"no seeds in '{text}'");
        return seeds.ToList();
    }

    /// <summary>The file name of a seed's image, as EDM names them by seed (zero-padded to six digits).</summary>
    public static string ImageName(long seed) => seed.ToString("D6", CultureInfo.InvariantCulture) + ".png";
}
