using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// SAM 2's image predictor end to end (image in, masks out) against the official SAM2ImagePredictor's outputs on the
/// photo of tests/fixtures/sam2 (see <see cref="Sam2DecoderFixtureTests"/>): its features, and for every prompt the
/// IoUs, low-resolution logits and masks; batched prompts and batched images as the official predictor takes them;
/// prompt validation. Tolerances as the decoder tests' (issue #27).
/// </summary>
public sealed class Sam2PredictorTests(ITestOutputHelper log)
{
    private static readonly Lazy<Sam2Model> Model = new(() => Sam2Model.Load(Sam2Fixture.TinyCheckpoint, dynamicMultimask: false));

    private static readonly Lazy<Sam2Predictor> OnPhoto = new(() =>
    {
        var p = new Sam2Predictor(Model.Value);
        p.SetImage(ImageIO.Load(Sam2Fixture.Photo, ColorMode.Rgb));
        return p;
    });

    private static torch.Tensor Ref(string key) => Sam2Fixture.Ref(key);

    private double Close(torch.Tensor got, string key, double rel = 1e-4) => Sam2Fixture.Recorded.Close(log, got, key, rel);

    // Masks [C, H, W] bool against the official ones: ≥ 99.9 % equal, and unequal only where the official logit is within 1e-3 of 0.
    private void SameMasks(torch.Tensor got, string name)
    {
        var want = Ref($"{name}/masks");
        double agree = got.eq(want).to(torch.ScalarType.Float64).mean().item<double>();
        Assert.True(agree >= 0.999, $"{name}: masks agree on {agree:P3}");
        log.WriteLine($"{name}: masks agree on {agree:P4} of {want.numel()} pixels");
        Assert.True(got.eq(want).logical_or(Ref($"{name}/logits").abs().lt(1e-3)).all().item<bool>());
    }

    private void SameIou(float[] got, string name)
    {
        var want = Ref($"{name}/iou_predictions").data<float>().ToArray();
        Assert.Equal(want.Length, got.Length);
        double err = Enumerable.Range(0, want.Length).Max(i => Math.Abs(want[i] - got[i]));
        Assert.True(err <= 1e-3, $"{name}: IoU error {err}");
        log.WriteLine($"{name}: max IoU error {err:E2}");
    }

    [Fact]
    public void Features_of_the_photo_are_the_official_ones()
    {
        var f = OnPhoto.Value.Features;
        Assert.Equal((125, 160), OnPhoto.Value.OriginalSize);
        Close(f.ImageEmbedding, "features/image_embed");
        Close(f.HighRes.S0, "features/high_res_feats0");
        Close(f.HighRes.S1, "features/high_res_feats1");
    }

    [Theory]
    [MemberData(nameof(Sam2DecoderFixtureTests.Prompts), MemberType = typeof(Sam2DecoderFixtureTests))]
    public void Predictor_gives_the_official_masks_ious_and_logits(string name)
    {
        var (prompt, multimask) = Sam2DecoderFixtureTests.PromptOf(name);
        using var masks = OnPhoto.Value.Predict(prompt, multimask);
        using var logits = OnPhoto.Value.Predict(prompt, multimask, returnLogits: true);
        SameIou(masks.Scores, name);
        var s2 = torch.TensorIndex.Slice(0, null, 2);
        Close(masks.LowResLogits[.., s2, s2], $"{name}/low_res_masks_strided");
        Close(logits.Masks, $"{name}/logits");
        SameMasks(masks.Masks, name);
    }

    [Fact]
    public void Batched_prompts_give_each_prompt_its_official_answer()
    {
        // two objects at once (the official predict with [B, N, 2] points): row 0 is the fixture's single point
        var prompts = new[] { new SamPrompt([new SamPoint(70, 60)]), new SamPrompt([new SamPoint(120, 30)]) };
        var (masks, iou, lowRes) = OnPhoto.Value.PredictMany(prompts, multimask: true);
        Assert.Equal(new long[] { 2, 3, 125, 160 }, masks.shape);
        Assert.Equal(new long[] { 2, 3, 256, 256 }, lowRes.shape);
        SameIou(iou[0].data<float>().ToArray(), "point");
        SameMasks(masks[0], "point");
        var s2 = torch.TensorIndex.Slice(0, null, 2);
        Close(lowRes[0][.., s2, s2], "point/low_res_masks_strided");
        // the second row is that prompt alone
        using var alone = OnPhoto.Value.Predict(prompts[1], multimask: true, returnLogits: true);
        var (many, _, _) = OnPhoto.Value.PredictMany(prompts, multimask: true, returnLogits: true);
        Assert.True((many[1] - alone.Masks).abs().max().item<float>() <= 1e-4f);
        // boxes batch too: the box prompt twice
        var (boxMasks, boxIou, _) = OnPhoto.Value.PredictMany([new SamPrompt(Box: new SamBox(30, 20, 120, 100)), new SamPrompt(Box: new SamBox(30, 20, 120, 100))], multimask: false);
        SameMasks(boxMasks[1], "box");
        SameIou(boxIou[1].data<float>().ToArray(), "box");
        var e = Assert.Throws<TesseraUserException>(() => OnPhoto.Value.PredictMany([prompts[0], new SamPrompt([new SamPoint(1, 1), new SamPoint(2, 2)])]));
        Assert.Contains("alike", e.Message);
    }

    [Fact]
    public void Batched_images_give_each_image_its_official_answer()
    {
        using var predictor = new Sam2Predictor(Model.Value);
        var photo = ImageIO.Load(Sam2Fixture.Photo, ColorMode.Rgb);
        var small = photo[.., ..64, ..80].contiguous();
        predictor.SetImageBatch([small, photo]);
        Assert.Equal([(64, 80), (125, 160)], predictor.OriginalSizes);
        var (boxPrompt, _) = Sam2DecoderFixtureTests.PromptOf("box");
        var pointPrompt = new SamPrompt([new SamPoint(120, 30)]);
        var results = predictor.PredictBatch([new SamPrompt([new SamPoint(10, 10)]), boxPrompt], multimask: false);
        Assert.Equal(new long[] { 1, 64, 80 }, results[0].Masks.shape);
        SameMasks(results[1].Masks, "box");
        SameIou(results[1].Scores, "box");
        foreach (var r in results) r.Dispose();
        Assert.Throws<TesseraUserException>(() => predictor.PredictBatch([pointPrompt]));
        // a point of the large image is outside the small one
        var e = Assert.Throws<TesseraUserException>(() => predictor.PredictBatch([pointPrompt, pointPrompt]));
        Assert.Contains("outside the 80×64 image", e.Message);
    }

    [Fact]
    public void Mask_input_round_trip_and_bad_prompts()
    {
        var (prompt, _) = Sam2DecoderFixtureTests.PromptOf("point");
        using var first = OnPhoto.Value.Predict(prompt, multimask: true);
        Assert.True(first.LowResLogits.abs().max().item<float>() <= 32f);
        using var again = OnPhoto.Value.Predict(prompt with { MaskInput = first.LowResLogits[first.Best] }, multimask: false);
        Assert.Equal(new long[] { 1, 125, 160 }, again.Masks.shape);
        Assert.Throws<TesseraUserException>(() => OnPhoto.Value.Predict(new SamPrompt([new SamPoint(500, 10)])));
        Assert.Throws<TesseraUserException>(() => OnPhoto.Value.Predict(new SamPrompt(Box: new SamBox(50, 50, 10, 10))));
        Assert.Throws<TesseraUserException>(() => OnPhoto.Value.Predict(new SamPrompt(MaskInput: torch.zeros(1, 64, 64))));
        Assert.Throws<TesseraUserException>(() => new Sam2Predictor(Model.Value, maxHoleArea: -1));
        using var skipped = new Sam2Predictor(Model.Value, maxHoleArea: 8, maxSprinkleArea: 8);
        Assert.True(skipped.PostprocessingSkipped);
    }

    [Fact]
    public void Family_is_read_from_the_checkpoint()
    {
        Assert.Equal(SamFamily.Sam2, SamCheckpoints.Detect(Sam2Fixture.TinyCheckpoint));
        Assert.Equal(SamFamily.Sam, SamCheckpoints.Detect(MobileSamFixtureTests.TinyCheckpoint));
        using var loaded = SamCheckpoints.Open(Sam2Fixture.TinyCheckpoint, torch.CPU);
        Assert.IsType<Sam2Predictor>(loaded.Predictor);
        // SAM 2's image encoder takes a precision like SAM's (issue 28; accuracy in Sam2PrecisionTests)
        using var bf16 = SamCheckpoints.Open(Sam2Fixture.TinyCheckpoint, torch.CPU, Runtime.Precision.BFloat16);
        Assert.Equal(Runtime.Precision.BFloat16, Assert.IsType<Sam2Predictor>(bf16.Predictor).Precision);
    }
}
