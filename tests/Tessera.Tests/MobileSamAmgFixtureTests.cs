namespace Tessera.Tests;

/// <summary>
/// The automatic mask generator with MobileSAM against the official MobileSAM <c>SamAutomaticMaskGenerator</c> (its own
/// copy of SAM's) on the tiny MobileSAM of tests/fixtures/mobilesam (amg/README.md): keep-all, stability filter with box
/// NMS 0.5, and a crop layer. Held to issue #27's bar: the number of masks, their order, prompt points and crop boxes
/// exactly, masks ≥ 99.9 % of pixels equal, predicted IoU and stability within 1e-3.
/// </summary>
public sealed class MobileSamAmgFixtureTests(ITestOutputHelper log)
{
    private static readonly Lazy<JsonDocument> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(MobileSamFixtureTests.Dir, "amg", "amg_expected.json"))));

    private static readonly Lazy<SamModel> Model = new(() => SamModel.Load(MobileSamFixtureTests.TinyCheckpoint));

    public static IEnumerable<object[]> Cases() => [["grid8_keep_all"], ["grid8_stable_nms05"], ["grid4_crops1"]];

    /// <summary>The generator settings of <paramref name="config"/> and the official annotations.</summary>
    internal static (AmgOptions Options, List<JsonElement> Want) Case(string config)
    {
        var root = Expected.Value.RootElement;
        return (OfficialAmgSettings.Read(root.GetProperty("configs").GetProperty(config), new AmgOptions()),
            root.GetProperty("results").GetProperty(config).EnumerateArray().ToList());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Annotations_match_the_official_mobilesam_generator(string config)
    {
        var (options, want) = Case(config);
        List<AmgMask> got;
        using (var predictor = new SamPredictor(Model.Value))
        using (var rgb = ImageIO.Load(MobileSamFixtureTests.Photo, ColorMode.Rgb))
            got = new AutomaticMaskGenerator(predictor, options).Generate(rgb);
        var (problems, summary) = AmgFixtureComparison.Compare(got, want);
        log.WriteLine($"{config}: {summary}");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
