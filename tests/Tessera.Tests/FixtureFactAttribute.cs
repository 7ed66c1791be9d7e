namespace Tessera.Tests;

/// <summary>
/// A fact that needs ../shared/fixtures/&lt;folder&gt;; skipped, saying why, where it is absent (a user's clone).
/// In CI (<c>CI=true</c>) it is never skipped: it runs, and fails on the missing folder.
/// </summary>
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute(string folder)
    {
        if (!Gate.InCi && !SharedFixtures.Has(folder))
            Skip = SharedFixtures.MissingReason(folder);
    }
}

/// <summary>A theory that needs ../shared/fixtures/&lt;folder&gt;; skipped outside CI where absent, failing in CI.</summary>
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute(string folder)
    {
        if (!Gate.InCi && !SharedFixtures.Has(folder))
            Skip = SharedFixtures.MissingReason(folder);
    }
}

/// <summary>Conditions a test needs from its machine: a visible skip on a developer's machine, a failure in CI.</summary>
internal static class Gate
{
    /// <summary>True under CI (<c>CI=true</c>, as GitHub Actions, GitLab and .ci/run set it).</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Skips the running <c>[SkippableFact]</c> with <paramref name="reason"/> unless <paramref name="condition"/>
    /// holds; in CI fails instead, since CI provides everything the suite needs.</summary>
    public static void Require(bool condition, string reason)
    {
        if (condition) return;
        if (InCi) Assert.Fail("CI=true and a test prerequisite is missing: " + reason);
        throw new SkipException(reason);
    }
}
