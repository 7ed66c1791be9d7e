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
        var problems = new List<string>();
        double worstIou = 0, worstStability = 0, worstAgree = 1;
        for (int i = 0; i < got.Count; i++)
        {
            var (g, w) = (got[i], want[i]);
            var seg = w.GetProperty("segmentation");
            int[] size = [.. seg.GetProperty("size").EnumerateArray().Select(e => e.GetInt32())];
            var wantMask = new MaskRle(size[0], size[1], [.. seg.GetProperty("counts").EnumerateArray().Select(e => e.GetInt64())]).Decode();
            var gotMask = g.Segmentation.Decode();
            double agree = gotMask.Zip(wantMask).Count(p => p.First == p.Second) / (double)wantMask.Length;
            worstAgree = Math.Min(worstAgree, agree);
            double dIou = Math.Abs(g.PredictedIou - w.GetProperty("predicted_iou").GetDouble());
            double dStab = Math.Abs(g.StabilityScore - w.GetProperty("stability_score").GetDouble());
            (worstIou, worstStability) = (Math.Max(worstIou, dIou), Math.Max(worstStability, dStab));
            double[] wantPoint = [.. w.GetProperty("point_coords")[0].EnumerateArray().Select(e => e.GetDouble())];
            int[] crop = [.. w.GetProperty("crop_box").EnumerateArray().Select(e => (int)Math.Round(e.GetDouble()))];
            if (Math.Abs(g.PointCoords[0] - wantPoint[0]) > 1e-4 || Math.Abs(g.PointCoords[1] - wantPoint[1]) > 1e-4) problems.Add($"{i}: point [{string.Join(",", g.PointCoords)}] vs [{string.Join(",", wantPoint)}]");
            if (!g.CropBoxXywh.SequenceEqual(crop)) problems.Add($"{i}: crop box");
            if (agree < 0.999) problems.Add($"{i}: masks agree on {agree:P3}");
            if (dIou > 1e-3) problems.Add($"{i}: predicted IoU {g.PredictedIou} vs {w.GetProperty("predicted_iou").GetDouble()}");
            if (dStab > 1e-3) problems.Add($"{i}: stability {g.StabilityScore} vs {w.GetProperty("stability_score").GetDouble()}");
        }
        log.WriteLine($"{config}: {got.Count} masks; worst |Δ predicted IoU| {worstIou:E2}, |Δ stability| {worstStability:E2}, pixels equal ≥ {worstAgree:P4}; {problems.Count} problems");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
