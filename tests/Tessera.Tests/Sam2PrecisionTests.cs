using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;
using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// SAM 2 with its image encoder (Hiera and the FPN neck) at bfloat16 (issue 28, <see cref="EncoderPrecision"/>) against
/// the official float32 outputs of tests/fixtures/sam2: the predictor's masks for every recorded prompt (each mask ≥ 99 %
/// of pixels equal and IoU ≥ 0.97 with the official one, the bar of <see cref="SamPrecisionTests"/>), and the automatic
/// mask generator's masks (each official mask matched to the generated mask of highest IoU). The measured figures are
/// written to the test output.
/// </summary>
public sealed class Sam2PrecisionTests(ITestOutputHelper log)
{
    private static Sam2Model Load(bool dynamicMultimask) => Sam2Model.Load(Sam2Fixture.TinyCheckpoint, dynamicMultimask: dynamicMultimask);

    [Theory]
    [MemberData(nameof(Sam2DecoderFixtureTests.Prompts), MemberType = typeof(Sam2DecoderFixtureTests))]
    public void Bf16_masks_agree_with_the_official_fp32_masks(string name)
    {
        using var model = Load(dynamicMultimask: false); // as Sam2PredictorTests, which the recorded prompts were made for
        using var predictor = new Sam2Predictor(model, precision: Precision.BFloat16);
        Assert.Equal(Precision.BFloat16, predictor.Precision);
        predictor.SetImage(ImageIO.Load(Sam2Fixture.Photo, ColorMode.Rgb));
        var f = predictor.Features;
        Assert.All(new[] { f.ImageEmbedding, f.HighRes.S0, f.HighRes.S1 }, t => Assert.Equal(torch.ScalarType.Float32, t.dtype));
        var (prompt, multimask) = Sam2DecoderFixtureTests.PromptOf(name);
        using var prediction = predictor.Predict(prompt, multimask);
        var want = Sam2Fixture.Ref($"{name}/masks");
        var wantIou = Sam2Fixture.Ref($"{name}/iou_predictions").data<float>().ToArray();
        var agreement = MaskAgreement.AtLowerPrecision(prediction.Masks, want, name);
        double dScore = Enumerable.Range(0, wantIou.Length).Max(i => Math.Abs(wantIou[i] - prediction.Scores[i]));
        log.WriteLine($"SAM 2 bf16 vs official fp32, {name}: {agreement}; predicted IoU within {dScore:E2}");
    }

    [Theory]
    [MemberData(nameof(Sam2AmgFixtureTests.Cases), MemberType = typeof(Sam2AmgFixtureTests))]
    public void Bf16_generator_masks_match_the_official_fp32_generator(string config)
    {
        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(Sam2Fixture.Dir, "amg", "amg_expected.json"))).RootElement;
        var options = OfficialAmgSettings.Read(root.GetProperty("configs").GetProperty(config), AmgOptions.Sam2Defaults);
        var want = root.GetProperty("results").GetProperty(config).EnumerateArray().ToList();
        using var model = Load(dynamicMultimask: true); // as the fixture's build_sam2
        List<AmgMask> got;
        using (var predictor = new Sam2Predictor(model, precision: Precision.BFloat16))
        using (var rgb = ImageIO.Load(Sam2Fixture.Photo, ColorMode.Rgb))
            got = new AutomaticMaskGenerator(predictor, options).Generate(rgb);
        log.WriteLine($"SAM 2 AMG bf16 vs official fp32, {config}: {AmgFixtureComparison.AtLowerPrecision(got, want)}");
    }

    [Fact]
    public void Conversion_keeps_the_position_tables_and_the_decoder_in_fp32_and_cannot_be_undone()
    {
        using var video = Sam2VideoPredictor.Load(Sam2MemoryFixtureTests.TinyCheckpoint, imageSize: 256, precision: Precision.BFloat16);
        Assert.Equal(Precision.BFloat16, video.Precision);
        var model = video.Model;
        var types = model.ImageEncoder.named_parameters().ToDictionary(p => p.name, p => p.parameter.dtype);
        Assert.Equal(torch.ScalarType.Float32, types["trunk.pos_embed"]);
        Assert.Equal(torch.ScalarType.Float32, types["trunk.pos_embed_window"]);
        Assert.Equal(torch.ScalarType.BFloat16, types["trunk.patch_embed.proj.weight"]);
        Assert.Equal(torch.ScalarType.BFloat16, types["trunk.blocks.0.attn.qkv.weight"]);
        Assert.Equal(torch.ScalarType.BFloat16, types["neck.convs.0.conv.weight"]);
        Assert.All(model.named_parameters().Where(p => !p.name.StartsWith("image_encoder.", StringComparison.Ordinal)),
            p => Assert.Equal(torch.ScalarType.Float32, p.parameter.dtype));
        Assert.All(video.Parts.parameters(), p => Assert.Equal(torch.ScalarType.Float32, p.dtype)); // memory attention and encoder
        using (var predictor = new Sam2Predictor(model, precision: Precision.BFloat16)) // the same precision again: nothing to do
            Assert.Equal(Precision.BFloat16, predictor.Precision);
        var e = Assert.Throws<TesseraUserException>(() => new Sam2Predictor(model));
        Assert.Contains("precision", e.Message);
    }
}
