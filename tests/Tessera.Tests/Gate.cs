namespace Tessera.Tests;

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
