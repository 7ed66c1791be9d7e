using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// The automatic mask generator with a SAM 2 predictor against the official <c>SAM2AutomaticMaskGenerator</c> on the
/// tiny SAM 2.1 of tests/fixtures/sam2 (amg/README.md): keep-all, mask-to-mask refinement, single-mask output with a
/// mask threshold of 0.5, and a crop layer with small-region removal asked for (which the official code skips without
/// its CUDA extension, as the generator does here). Random weights make large, noisy masks (stability scores down to
/// 0.34), so masks are held to issue #27's bar — ≥ 99.9 % of pixels equal — with predicted IoU and stability within
/// 1e-3; the number of masks, their order, prompt points and crop boxes exactly.
/// </summary>
public sealed class Sam2AmgFixtureTests(ITestOutputHelper log)
{
    private static readonly Lazy<JsonDocument> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Sam2Fixture.Dir, "amg", "amg_expected.json"))));

    // built as build_sam2 builds it (dynamic multimask fallback on), as the fixture script does
    private static readonly Lazy<Sam2Model> Model = new(() => Sam2Model.Load(Sam2Fixture.TinyCheckpoint));

    public static IEnumerable<object[]> Cases() => [["grid4_keep_all"], ["grid4_m2m_stable"], ["grid4_single_threshold05"], ["grid3_crops1_minregion10"]];

    private static AmgOptions Options(JsonElement c) => OfficialAmgSettings.Read(c, AmgOptions.Sam2Defaults);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Annotations_match_the_official_sam2_generator(string config)
    {
        var root = Expected.Value.RootElement;
        var options = Options(root.GetProperty("configs").GetProperty(config));
        var want = root.GetProperty("results").GetProperty(config).EnumerateArray().ToList();
        List<AmgMask> got;
        using (var predictor = new Sam2Predictor(Model.Value))
        using (var rgb = ImageIO.Load(Sam2Fixture.Photo, ColorMode.Rgb))
            got = new AutomaticMaskGenerator(predictor, options).Generate(rgb);
        Assert.Equal(want.Count, got.Count);
        var (problems, summary) = AmgFixtureComparison.Compare(got, want);
        log.WriteLine($"{config}: {summary}");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
