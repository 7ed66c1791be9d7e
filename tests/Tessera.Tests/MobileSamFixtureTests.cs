namespace Tessera.Tests;

/// <summary>
/// MobileSAM against tests/fixtures/mobilesam (README there): a tiny TinyViT SAM with seeded random weights run
/// by the official ChaoningZhang/MobileSAM code on a real photo, every encoder stage and the official
/// SamPredictor's masks and IoUs recorded; and the real mobile_sam.pt's key listing.
/// Tolerances (issue #27): stages within 1e-4·max(1, max|ref|), IoUs within 1e-3, masks agree on ≥ 99.9 % of pixels.
/// </summary>
public sealed class MobileSamFixtureTests(ITestOutputHelper log)
{
    /// <summary>tests/fixtures/mobilesam in this checkout.</summary>
    internal static string Dir => Fixtures.Dir("mobilesam");

    internal static string TinyCheckpoint => Path.Combine(Dir, "mobilesam_tiny.pt");

    internal static string Photo => Path.Combine(Dir, "photo.png");

    private static readonly RecordedFixture Fixture = new(Dir, "mobilesam_tiny_io.bin");
    private static readonly Lazy<SamModel> Model = new(() =>
    {
        var m = SamModel.Load(TinyCheckpoint);
        m.eval();
        return m;
    });

    internal static torch.Tensor Ref(string key) => Fixture.Ref(key);

    private double Close(torch.Tensor got, string key, double rel = 1e-4) => Fixture.Close(log, got, key, rel);

    private static Dictionary<string, long[]> Listing(string file) => Fixture.Listing(file);

    private static void SameKeys(Dictionary<string, long[]> expected, Dictionary<string, torch.Tensor> state)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, shape) in expected) Assert.True(shape.SequenceEqual(state[k].shape), $"{k}: [{string.Join(",", state[k].shape)}]");
    }

    [Fact]
    public void Real_mobile_sam_has_the_official_keys_shapes_and_parameter_count()
    {
        using var model = new SamModel(SamConfig.MobileSam);
        SameKeys(Listing("vit_t_keys.json"), model.state_dict());
        Assert.Equal(10_130_092, model.parameters().Sum(p => p.numel()));
        // mobile_sam.pt's own shapes give back the same configuration
        var shapes = Listing("vit_t_keys.json");
        var inferred = TinyVitConfig.FromWeights(k => shapes.GetValueOrDefault(k));
        Assert.True(inferred.SameAs(TinyVitConfig.MobileSam), string.Join(" ", inferred.EmbedDims));
    }

    [Fact]
    public void Tiny_checkpoint_loads_every_key_and_reads_its_sizes_from_the_weights()
    {
        var state = Model.Value.state_dict();
        SameKeys(Listing("mobilesam_tiny_keys.json"), state);
        var tv = Model.Value.Config.TinyVit!;
        Assert.Equal([16, 32, 64, 320], tv.EmbedDims);
        Assert.Equal([2, 1, 2, 1], tv.Depths);
        Assert.Equal([1, 2, 2, 5], tv.NumHeads[1..].Prepend(1));
        Assert.Equal([7, 14, 7], tv.WindowSizes[1..]);
        Assert.Equal((2.0, 10), (tv.MlpRatio, tv.NumClasses));
        Assert.Equal((1, 64, 32), (Model.Value.Config.DecoderDepth, Model.Value.Config.DecoderMlpDim, Model.Value.Config.IouHeadHiddenDim));
        Assert.Equal("tiny_vit", Model.Value.ImageEncoder.Family);
    }

    [Fact]
    public void Saved_as_safetensors_it_loads_back_with_the_same_encoder_and_weights()
    {
        using var dir = new TempDir();
        Model.Value.Save(dir.File("m.safetensors"));
        using var back = SamModel.Load(dir.File("m.safetensors"));
        Assert.True(back.Config.TinyVit!.SameAs(Model.Value.Config.TinyVit!));
        var want = Model.Value.state_dict();
        foreach (var (k, v) in back.state_dict()) Assert.True(Same.Tensors(v, want[k]), k);
    }

    [Fact]
    public void Offset_index_is_the_official_first_appearance_numbering_and_stored_tables_are_checked()
    {
        // The official construction: offsets numbered in order of first appearance over all (p1, p2) pairs.
        foreach (int r in new[] { 3, 7 })
        {
            var seen = new Dictionary<(int, int), long>();
            var idx = new List<long>();
            for (int a = 0; a < r * r; a++)
                for (int b = 0; b < r * r; b++)
                {
                    var off = (Math.Abs(a / r - b / r), Math.Abs(a % r - b % r));
                    if (!seen.TryGetValue(off, out long i)) seen[off] = i = seen.Count;
                    idx.Add(i);
                }
            using var want = torch.tensor(idx.ToArray(), [r * r, r * r]);
            using var got = TinyVitAttention.OffsetIndex(r);
            Assert.True(Same.Tensors(want, got), $"window {r}");
        }
        var tensors = new Dictionary<string, torch.Tensor> { ["image_encoder.layers.1.blocks.0.attn.attention_bias_idxs"] = TinyVitAttention.OffsetIndex(7) };
        MobileSamCheckpoint.CheckBiasIndexes("f.pt", tensors);
        Assert.Empty(tensors);
        var wrong = TinyVitAttention.OffsetIndex(7);
        wrong[0, 1] = torch.tensor(5L);
        tensors["image_encoder.layers.1.blocks.0.attn.attention_bias_idxs"] = wrong;
        var e = Assert.Throws<TesseraFormatException>(() => MobileSamCheckpoint.CheckBiasIndexes("f.pt", tensors));
        Assert.Contains("attention_bias_idxs", e.Message);
    }

    [Fact]
    public void Encoder_matches_the_official_code_stage_by_stage()
    {
        using var _ = torch.no_grad();
        var rgb = ImageIO.Load(Photo, ColorMode.Rgb);
        Assert.True(Same.Tensors(rgb.permute(1, 2, 0), Ref("image")));
        var (input, inputSize) = SamPredictor.ModelInput(Model.Value, rgb);
        Assert.Equal((800, 1024), inputSize);
        var s16 = torch.TensorIndex.Slice(0, null, 16);
        Close(input[.., .., s16, s16], "preprocessed_strided", 1e-5);
        var enc = (TinyVitEncoder)Model.Value.ImageEncoder;
        var sides = enc.Config.Resolutions(1024);
        foreach (var (name, value) in enc.Trace(input))
        {
            var map = value.dim() == 4 ? value : value.view(1, Side(name, sides), Side(name, sides), -1).permute(0, 3, 1, 2);
            int stride = Math.Max(1, (int)map.shape[^1] / 16);
            string key = $"enc/{name}";
            var s = torch.TensorIndex.Slice(0, null, stride);
            Close(map[.., .., s, s], key);
            Close(map[.., 0], $"{key}/channel0");
        }
        var embedding = enc.forward(input);
        var s4 = torch.TensorIndex.Slice(0, null, 4);
        Close(embedding[.., .., s4, s4], "image_embedding_strided");
        Close(embedding[.., 0], "image_embedding_channel0");
    }

    // The grid side of a token tensor in the trace: stage i's blocks are on its own grid, its output on the next stage's.
    private static int Side(string name, int[] sides)
    {
        int stage = name[5] - '0';
        return name.Contains("/block", StringComparison.Ordinal) ? sides[stage] : sides[Math.Min(stage + 1, sides.Length - 1)];
    }

    public static IEnumerable<object[]> Prompts() => [["point"], ["box"], ["point_box"]];

    internal static (SamPrompt Prompt, bool Multimask) PromptOf(string name) => name switch
    {
        "point" => (new SamPrompt([new SamPoint(70, 60)]), true),
        "box" => (new SamPrompt(Box: new SamBox(30, 20, 120, 100)), false),
        _ => (new SamPrompt([new SamPoint(90, 50, Positive: false)], new SamBox(30, 20, 120, 100)), true),
    };

    [Theory]
    [MemberData(nameof(Prompts))]
    public void Predictor_gives_the_official_masks_and_ious(string name)
    {
        using var predictor = new SamPredictor(Model.Value);
        predictor.SetImage(ImageIO.Load(Photo, ColorMode.Rgb));
        var (prompt, multimask) = PromptOf(name);
        using var masks = predictor.Predict(prompt, multimask);
        using var logits = predictor.Predict(prompt, multimask, returnLogits: true);
        var iouRef = Ref($"{name}/iou_predictions").data<float>().ToArray();
        Assert.Equal(iouRef.Length, masks.Scores.Length);
        for (int i = 0; i < iouRef.Length; i++) Assert.True(Math.Abs(iouRef[i] - masks.Scores[i]) <= 1e-3, $"IoU {i}: {masks.Scores[i]} vs {iouRef[i]}");
        log.WriteLine($"{name}: max IoU error {Enumerable.Range(0, iouRef.Length).Max(i => Math.Abs(iouRef[i] - masks.Scores[i])):E2}");
        var s4 = torch.TensorIndex.Slice(0, null, 4);
        Close(masks.LowResLogits[.., s4, s4], $"{name}/low_res_masks_strided");
        Close(logits.Masks, $"{name}/logits");
        var want = Ref($"{name}/masks");
        double agree = masks.Masks.eq(want).to(torch.ScalarType.Float64).mean().item<double>();
        Assert.True(agree >= 0.999, $"masks agree on {agree:P3}");
        log.WriteLine($"{name}: masks agree on {agree:P4} of {want.numel()} pixels");
        // beyond the issue's bar: a pixel may differ only where the official logit is within 1e-3 of the threshold
        var near = Ref($"{name}/logits").abs().lt(1e-3);
        Assert.True(masks.Masks.eq(want).logical_or(near).all().item<bool>());
    }
}
