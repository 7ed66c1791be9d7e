using Tessera.Bench.Fuzz;

namespace Tessera.Tests;

/// <summary>
/// A seeded campaign of mutated inputs per parser of user files (the harness of bench/, where
/// <c>dotnet run --project bench/Tessera.Bench -- fuzz PARSER --count N --seed S</c> runs long ones): every input
/// either parses or is refused with a TesseraUserException naming the file, within 5 s and a bounded allocation.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper log)
{
    public static IEnumerable<object[]> Parsers() => FuzzTargets.All.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(Parsers))]
    public void Mutated_inputs_parse_or_are_refused_with_a_user_error_naming_the_file(string parser)
    {
        var report = FuzzCampaign.Run(FuzzTargets.All[parser](), count: 1500, seed: 14);
        log.WriteLine($"{parser}: {report.Inputs} inputs, {report.Accepted} accepted, {report.Rejected} refused; worst {report.WorstTime.TotalMilliseconds:0} ms, {report.WorstAllocation:N0} bytes");
        Assert.Equal(1500, report.Inputs);
        // Both outcomes occur: the mutations reach past the checks, and the seeds are valid.
        Assert.True(report.Accepted > 0 && report.Rejected > 0, $"{report.Accepted} accepted, {report.Rejected} refused");
        Assert.True(report.Findings.Count == 0, string.Join("\n", report.Findings.Select(f => $"{f.Count} × {f.Key}: {f.Detail}")));
    }
}
