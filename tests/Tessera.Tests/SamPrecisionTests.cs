namespace Tessera.Tests;

/// <summary>
/// SAM at a lower precision (issue 28, <see cref="EncoderPrecision"/>) against the official float32 outputs of the
/// tiny fixture model: the bfloat16 encoder's masks must agree with the official masks on at least 99 % of the pixels
/// of every prompt case and keep its IoU with them at 0.97 or above.
/// </summary>
public sealed class SamPrecisionTests(ITestOutputHelper log)
{
    private static readonly Lazy<Dictionary<string, torch.Tensor>> Io = new(TinySam.Io);

    [Theory]
    [MemberData(nameof(SamFixtureTests.Cases), MemberType = typeof(SamFixtureTests))]
    public void Bf16_masks_agree_with_the_official_fp32_masks(string img, string c)
    {
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinySam.Dir, "sam_tiny_meta.json")));
        var m = meta.RootElement.GetProperty("images").GetProperty(img).GetProperty("cases").GetProperty(c);
        using var model = TinySam.Load();
        using var predictor = new SamPredictor(model, Precision.BFloat16);
        predictor.SetImage(Io.Value[$"{img}/image"], channelsLast: true);
        Assert.Equal(torch.ScalarType.Float32, predictor.Features.dtype);
        using var prediction = predictor.Predict(TinySam.Prompt(m, Io.Value, img, c), multimask: true);
        var want = Io.Value[$"{img}/{c}/multi/masks"][0];
        var agreement = MaskAgreement.AtLowerPrecision(prediction.Masks, want, $"{img}/{c}");
        log.WriteLine($"SAM ViT bf16 vs official fp32, {img}/{c}: {agreement}");
    }

    [Fact]
    public void Conversion_keeps_the_sensitive_parts_in_fp32_and_cannot_be_undone()
    {
        using var model = TinySam.Load();
        EncoderPrecision.Apply(model.ImageEncoder, Precision.BFloat16);
        Assert.Equal(Precision.BFloat16, EncoderPrecision.Of(model.ImageEncoder));
        var types = model.ImageEncoder.named_parameters().ToDictionary(p => p.name, p => p.parameter.dtype);
        Assert.Equal(torch.ScalarType.Float32, types["pos_embed"]);
        Assert.Equal(torch.ScalarType.Float32, types["neck.1.weight"]);
        Assert.Equal(torch.ScalarType.Float32, types["neck.3.bias"]);
        Assert.Equal(torch.ScalarType.BFloat16, types["neck.0.weight"]);
        Assert.Equal(torch.ScalarType.BFloat16, types["blocks.0.attn.qkv.weight"]);
        Assert.All(model.MaskDecoder.parameters(), p => Assert.Equal(torch.ScalarType.Float32, p.dtype));
        EncoderPrecision.Apply(model.ImageEncoder, Precision.BFloat16); // the same precision again: nothing to do
        var e = Assert.Throws<TesseraUserException>(() => new SamPredictor(model, Precision.Float32));
        Assert.Contains("precision", e.Message);
    }
}
