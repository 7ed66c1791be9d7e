namespace Tessera.Tests;

/// <summary>A fact that needs ../shared/fixtures/&lt;folder&gt;; skipped, saying why, where it is absent (a user's clone).</summary>
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute(string folder)
    {
        if (SharedFixtures.Root is not { } root || !Directory.Exists(Path.Combine(root, folder)))
            Skip = $"golden fixtures ../shared/fixtures/{folder} are not present beside this checkout";
    }
}

/// <summary>A theory that needs ../shared/fixtures/&lt;folder&gt;.</summary>
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute(string folder)
    {
        if (SharedFixtures.Root is not { } root || !Directory.Exists(Path.Combine(root, folder)))
            Skip = $"golden fixtures ../shared/fixtures/{folder} are not present beside this checkout";
    }
}
