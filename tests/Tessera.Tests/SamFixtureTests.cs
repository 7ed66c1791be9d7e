namespace Tessera.Tests;

/// <summary>
/// Segment Anything against tests/fixtures/sam: a tiny official SAM (random weights, every intermediate
/// recorded by the official code). Tolerance from the fixture README: max|got − ref| ≤ 1e-5·max(1, max|ref|).
/// </summary>
public sealed class SamFixtureTests
{
    private static string Dir => Fixtures.Dir("sam");

    /// <summary>The fixture's tiny configuration (README table).</summary>
    internal static SamConfig Tiny => new(ImageSize: 64, PatchSize: 8, EncoderDim: 32, EncoderDepth: 4, EncoderHeads: 2,
        GlobalAttentionBlocks: [1, 3], WindowSize: 3, PromptDim: 32, MaskInChannels: 16, DecoderDepth: 2, DecoderHeads: 2,
        DecoderMlpDim: 64, IouHeadHiddenDim: 32);

    private static readonly Lazy<Dictionary<string, torch.Tensor>> Io = new(() => TensorIndexFile.Read(Path.Combine(Dir, "sam_tiny_io.bin")));
    private static readonly Lazy<SamModel> Model = new(() => TinySam.Load());

    private static torch.Tensor Ref(string key) => Io.Value.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException(key);

    private static void Close(torch.Tensor got, string key, double rel = 1e-5)
    {
        var want = Ref(key);
        Assert.True(want.shape.SequenceEqual(got.shape), $"{key}: shape [{string.Join(",", got.shape)}] vs [{string.Join(",", want.shape)}]");
        if (want.numel() == 0) return;
        double scale = Math.Max(1, want.abs().max().item<float>());
        double err = (got.to(torch.ScalarType.Float32).cpu() - want).abs().max().item<float>();
        Assert.True(err <= rel * scale, $"{key}: max error {err:E2} > {rel * scale:E2}");
    }

    public static IEnumerable<object[]> Images() => [["img0"], ["img1"]];

    public static IEnumerable<object[]> Cases() =>
        from img in new[] { "img0", "img1" }
        from c in new[] { "points2", "box", "point_box", "mask", "point_mask" }
        select new object[] { img, c };

    [Fact]
    public void Tiny_model_has_the_official_keys_shapes_and_parameter_count()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "sam_tiny_weights.json")));
        using var model = new SamModel(Tiny);
        var state = model.state_dict();
        var expected = doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, shape) in expected) Assert.True(shape.SequenceEqual(state[k].shape), k);
        Assert.Equal(112_364, model.parameters().Sum(p => p.numel()));
        Assert.Equal(112_396, state.Values.Sum(t => t.numel()));
    }

    [Fact]
    public void Pth_and_flat_weights_agree_after_loading()
    {
        var flat = TensorIndexFile.Read(Path.Combine(Dir, "sam_tiny_weights.bin"));
        var state = Model.Value.state_dict();
        foreach (var (k, t) in flat) Assert.True(Same.Tensors(state[k], t), k);
    }

    [Fact]
    public void Load_infers_the_configuration_from_the_official_pth_and_puts_the_model_on_the_device()
    {
        using var loaded = SamModel.Load(Path.Combine(Dir, "sam_tiny.pth"), torch.CPU);
        Assert.Equal((Tiny.ImageSize, Tiny.EncoderDim, Tiny.EncoderDepth, Tiny.WindowSize), (loaded.Config.ImageSize, loaded.Config.EncoderDim, loaded.Config.EncoderDepth, loaded.Config.WindowSize));
        Assert.Equal(Tiny.GlobalBlocks, loaded.Config.GlobalBlocks);
        var flat = TensorIndexFile.Read(Path.Combine(Dir, "sam_tiny_weights.bin"));
        var state = loaded.state_dict();
        Assert.Equal(flat.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, t) in flat) Assert.True(Same.Tensors(state[k], t), k);
        Assert.All(loaded.parameters(), p => Assert.Equal(DeviceType.CPU, p.device_type));
        var wrongSize = Assert.Throws<TesseraFormatException>(() => SamModel.Load(Path.Combine(Dir, "sam_tiny.pth"), expected: SamConfig.FromName("vit_b")));
        Assert.Contains("not the requested width 768", wrongSize.Message);
    }

    [Fact]
    public void Relative_position_tables_match_including_interpolation_and_scaled_coordinates()
    {
        var blocks = ((ImageEncoderViT)Model.Value.ImageEncoder).Blocks;
        var state = Model.Value.state_dict();
        for (int i = 0; i < blocks.Count; i++)
        {
            int s = blocks[i].WindowSize > 0 ? blocks[i].WindowSize : 8;
            Close(RelativePosition.Get(s, s, state[$"image_encoder.blocks.{i}.attn.rel_pos_h"]), $"rel_pos/block{i}/Rh");
            Close(RelativePosition.Get(s, s, state[$"image_encoder.blocks.{i}.attn.rel_pos_w"]), $"rel_pos/block{i}/Rw");
        }
        Close(RelativePosition.Get(6, 6, state["image_encoder.blocks.0.attn.rel_pos_h"]), "rel_pos/extra/interp_up_q6_k6_from_block0_rel_pos_h");
        Close(RelativePosition.Get(3, 5, state["image_encoder.blocks.1.attn.rel_pos_h"]), "rel_pos/extra/interp_down_q3_k5_from_block1_rel_pos_h");
        Close(RelativePosition.Get(4, 8, state["image_encoder.blocks.1.attn.rel_pos_h"]), "rel_pos/extra/q4_k8_from_block1_rel_pos_h");
        Close(RelativePosition.Get(8, 4, state["image_encoder.blocks.1.attn.rel_pos_w"]), "rel_pos/extra/q8_k4_from_block1_rel_pos_w");
        Close(RelativePosition.Get(5, 8, state["image_encoder.blocks.1.attn.rel_pos_w"]), "rel_pos/extra/q5_k8_from_block1_rel_pos_w");
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Image_encoder_matches_stage_by_stage(string img)
    {
        var enc = (ImageEncoderViT)Model.Value.ImageEncoder;
        using var _ = torch.no_grad();
        var input = Ref($"{img}/preprocessed");
        var x = enc.PatchEmbedding(input);
        Close(x, $"{img}/enc/patch_embed");
        x = x + enc.PositionTable;
        Close(x, $"{img}/enc/pos_embed_added");
        for (int i = 0; i < enc.Blocks.Count; i++)
        {
            var block = enc.Blocks[i];
            Close(block.Norm1(x), $"{img}/enc/block{i}/norm1");
            var attnIn = block.AttentionInput(x);
            Close(attnIn, $"{img}/enc/block{i}/attn_in");
            // Each stage from the reference's own input, so an error points at one stage.
            var refIn = Ref($"{img}/enc/block{i}/attn_in");
            Close(block.Attention.Logits(refIn, withRelativePosition: false), $"{img}/enc/block{i}/attn_logits");
            Close(block.Attention.Logits(refIn), $"{img}/enc/block{i}/attn_logits_relpos");
            Close(block.Attention.forward(refIn), $"{img}/enc/block{i}/attn_out");
            x = block.forward(x);
            Close(x, $"{img}/enc/block{i}/out");
        }
        var neck = enc.NeckStages(Ref($"{img}/enc/block3/out").permute(0, 3, 1, 2));
        for (int j = 0; j < 4; j++) Close(neck[j], $"{img}/enc/neck{j}");
        Close(enc.forward(input), $"{img}/image_embedding");
    }

    [Fact]
    public void Dense_positional_encoding_matches()
    {
        using var _ = torch.no_grad();
        Close(Model.Value.PromptEncoder.DensePositionalEncoding(), "dense_pe");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prompt_encoder_and_mask_decoder_match_every_prompt_case(string img, string c)
    {
        var model = Model.Value;
        using var _ = torch.no_grad();
        string p = $"{img}/{c}";
        Io.Value.TryGetValue($"{p}/point_coords", out var coords);
        Io.Value.TryGetValue($"{p}/point_labels", out var labels);
        Io.Value.TryGetValue($"{p}/boxes", out var boxes);
        Io.Value.TryGetValue($"{p}/mask_input", out var mask);
        var (sparse, dense) = model.PromptEncoder.forward(coords, labels, boxes, mask);
        Close(sparse, $"{p}/sparse_embeddings");
        Close(dense, $"{p}/dense_embeddings");

        var embedding = Ref($"{img}/image_embedding");
        var pe = model.PromptEncoder.DensePositionalEncoding();
        var decoder = model.MaskDecoder;
        var tokens = decoder.Tokens(Ref($"{p}/sparse_embeddings"));
        Close(tokens, $"{p}/decoder/tokens");
        Close(embedding + Ref($"{p}/dense_embeddings"), $"{p}/decoder/src");

        // Two-way layers, each from the reference's own inputs.
        var keys0 = Ref($"{p}/decoder/src").flatten(2).permute(0, 2, 1);
        var keyPe = Ref($"{p}/decoder/pos_src").flatten(2).permute(0, 2, 1);
        var (q, k) = decoder.Transformer.Layers[0].forward(tokens, keys0, tokens, keyPe);
        Close(q, $"{p}/decoder/layer0_queries");
        Close(k, $"{p}/decoder/layer0_keys");
        (q, k) = decoder.Transformer.Layers[1].forward(Ref($"{p}/decoder/layer0_queries"), Ref($"{p}/decoder/layer0_keys"), tokens, keyPe);
        Close(q, $"{p}/decoder/layer1_queries");
        Close(k, $"{p}/decoder/layer1_keys");
        var (hs, keys) = decoder.Transformer.forward(Ref($"{p}/decoder/src"), Ref($"{p}/decoder/pos_src"), tokens);
        Close(hs, $"{p}/decoder/hs");
        Close(keys, $"{p}/decoder/keys");
        Close(decoder.Upscale(Ref($"{p}/decoder/keys").transpose(1, 2).reshape(1, 32, 8, 8)), $"{p}/decoder/upscaled_embedding");
        Close(decoder.HyperIn(Ref($"{p}/decoder/hs")), $"{p}/decoder/hyper_in");

        using var all = decoder.PredictAll(embedding, pe, Ref($"{p}/sparse_embeddings"), Ref($"{p}/dense_embeddings"));
        Close(all.Masks, $"{p}/decoder/all_masks");
        Close(all.Iou, $"{p}/decoder/all_iou");

        var meta = Meta.RootElement.GetProperty("images").GetProperty(img);
        var original = (meta.GetProperty("original_size_hw")[0].GetInt32(), meta.GetProperty("original_size_hw")[1].GetInt32());
        var inputSize = (meta.GetProperty("input_size_hw")[0].GetInt32(), meta.GetProperty("input_size_hw")[1].GetInt32());
        foreach (string mm in new[] { "multi", "single" })
        {
            using var pred = decoder.forward(embedding, pe, sparse, dense, multimask: mm == "multi");
            Close(pred.Masks, $"{p}/{mm}/low_res_masks");
            Close(pred.Iou, $"{p}/{mm}/iou_predictions");
            var logits = model.PostprocessMasks(Ref($"{p}/{mm}/low_res_masks"), inputSize, original);
            Close(logits, $"{p}/{mm}/masks_logits");
            var want = Ref($"{p}/{mm}/masks");
            var refLogits = Ref($"{p}/{mm}/masks_logits");
            var mismatch = (logits > 0).ne(want) & (refLogits.abs() >= 1e-4 * refLogits.abs().max().item<float>());
            Assert.Equal(0, mismatch.sum().item<long>());
        }
    }

    private static readonly Lazy<JsonDocument> MetaDoc = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "sam_tiny_meta.json"))));
    private static JsonDocument Meta => MetaDoc.Value;

    [Theory]
    [MemberData(nameof(Images))]
    public void Pillow_bilinear_resize_and_preprocessing_are_exact(string img)
    {
        var image = Ref($"{img}/image");
        int h = (int)image.shape[0], w = (int)image.shape[1];
        var transform = new ResizeLongestSide(64);
        var (pixels, rh, rw) = transform.ApplyImage(image.bytes, h, w);
        var want = Ref($"{img}/resized");
        Assert.Equal(want.shape, new long[] { rh, rw, 3 });
        Assert.Equal(want.bytes.ToArray(), pixels); // byte for byte, Pillow's fixed-point arithmetic
        var chw = torch.tensor(pixels, [1, rh, rw, 3]).permute(0, 3, 1, 2).to(torch.ScalarType.Float32);
        Close(Model.Value.Preprocess(chw), $"{img}/preprocessed");
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Prompt_coordinates_map_into_the_model_frame(string img)
    {
        var meta = Meta.RootElement.GetProperty("images").GetProperty(img);
        var original = (meta.GetProperty("original_size_hw")[0].GetInt32(), meta.GetProperty("original_size_hw")[1].GetInt32());
        var transform = new ResizeLongestSide(64);
        Assert.Equal((meta.GetProperty("input_size_hw")[0].GetInt32(), meta.GetProperty("input_size_hw")[1].GetInt32()), transform.ShapeFor(original.Item1, original.Item2));
        foreach (var c in meta.GetProperty("cases").EnumerateObject())
        {
            if (c.Value.TryGetProperty("point_coords_original_frame", out var pts))
            {
                var want = Ref($"{img}/{c.Name}/point_coords").data<float>().ToArray();
                int i = 0;
                foreach (var pt in pts.EnumerateArray())
                {
                    var (x, y) = transform.ApplyCoords(pt[0].GetDouble(), pt[1].GetDouble(), original);
                    Assert.Equal(want[i++], (float)x);
                    Assert.Equal(want[i++], (float)y);
                }
            }
            if (c.Value.TryGetProperty("box_original_frame_xyxy", out var b))
            {
                var want = Ref($"{img}/{c.Name}/boxes").data<float>().ToArray();
                var box = transform.ApplyBox((b[0].GetDouble(), b[1].GetDouble(), b[2].GetDouble(), b[3].GetDouble()), original);
                Assert.Equal(want, new[] { (float)box.X0, (float)box.Y0, (float)box.X1, (float)box.Y1 });
            }
        }
    }

    [Fact]
    public void Resize_rule_matches_the_official_examples_at_1024()
    {
        foreach (var e in Meta.RootElement.GetProperty("resize_longest_side_1024_examples_hw_to_hw").EnumerateObject())
        {
            var hw = e.Name.Split('x').Select(int.Parse).ToArray();
            Assert.Equal((e.Value[0].GetInt32(), e.Value[1].GetInt32()), ResizeLongestSide.PreprocessShape(hw[0], hw[1], 1024));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Predictor_end_to_end_from_the_original_image_matches(string img, string c)
    {
        var meta = Meta.RootElement.GetProperty("images").GetProperty(img).GetProperty("cases").GetProperty(c);
        using var predictor = new SamPredictor(Model.Value);
        predictor.SetImage(Ref($"{img}/image"), channelsLast: true);
        Close(predictor.Features, $"{img}/image_embedding");
        var prompt = TinySam.Prompt(meta, Io.Value, img, c);
        predictor.Check(prompt);
        foreach (string mm in new[] { "multi", "single" })
        {
            using var logits = predictor.Predict(prompt, multimask: mm == "multi", returnLogits: true);
            Close(logits.Masks.unsqueeze(0), $"{img}/{c}/{mm}/masks_logits");
            Close(logits.LowResLogits.unsqueeze(0), $"{img}/{c}/{mm}/low_res_masks");
            Assert.Equal(Ref($"{img}/{c}/{mm}/iou_predictions")[0].data<float>().ToArray(), logits.Scores, (x, y) => Math.Abs(x - y) < 1e-5);
            using var binary = predictor.Predict(prompt, multimask: mm == "multi");
            Assert.Equal(torch.ScalarType.Bool, binary.Masks.dtype);
            var refLogits = Ref($"{img}/{c}/{mm}/masks_logits")[0];
            var mismatch = binary.Masks.ne(Ref($"{img}/{c}/{mm}/masks")[0]) & (refLogits.abs() >= 1e-4 * refLogits.abs().max().item<float>());
            Assert.Equal(0, mismatch.sum().item<long>());
        }
    }

    [Fact]
    public void Prompts_outside_the_image_or_inverted_boxes_are_refused()
    {
        using var predictor = new SamPredictor(Model.Value);
        predictor.SetImage(Ref("img0/image"), channelsLast: true);
        Assert.Contains("outside", Assert.Throws<TesseraUserException>(() => predictor.Check(new SamPrompt([new SamPoint(101, 5)]))).Message);
        Assert.Contains("x1 < x0", Assert.Throws<TesseraUserException>(() => predictor.Check(new SamPrompt(Box: new SamBox(50, 10, 40, 20)))).Message);
        // Predict validates too, naming the prompt's parameter: the library refuses what the command line would.
        var point = Assert.Throws<TesseraUserException>(() => predictor.Predict(new SamPrompt([new SamPoint(5, -1)])));
        Assert.Equal(nameof(SamPrompt.Points), point.Parameter);
        var box = Assert.Throws<TesseraUserException>(() => predictor.Predict(new SamPrompt(Box: new SamBox(0, 0, 1000, 20))));
        Assert.Equal(nameof(SamPrompt.Box), box.Parameter);
        using var wrong = torch.zeros(1, 8, 8);
        var mask = Assert.Throws<TesseraUserException>(() => predictor.Predict(new SamPrompt([new SamPoint(5, 5)], MaskInput: wrong)));
        Assert.Equal(nameof(SamPrompt.MaskInput), mask.Parameter);
        using var fine = predictor.Predict(new SamPrompt([new SamPoint(5, 5)]));
        Assert.Equal(3, fine.Scores.Length);
    }
}

/// <summary>
/// The released ViT-B/L/H against their official key lists. Serial: building on the meta device changes libtorch's
/// process-wide default device, which would put tensors of tests running alongside on the meta device.
/// </summary>
[Collection("serial")]
public sealed class SamKeyListTests
{
    private static string Dir => Fixtures.Dir("sam");

    [Theory]
    [InlineData("vit_b")]
    [InlineData("vit_l")]
    [InlineData("vit_h")]
    public void Released_sizes_build_with_exactly_the_official_keys_shapes_and_counts(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, $"{name}_keys.json")));
        var root = doc.RootElement;
        var config = SamConfig.FromName(name);
        // Built on the meta device: names and shapes without allocating hundreds of MB.
        using var model = BuildOnMeta(config);
        var state = model.state_dict();
        var keys = root.GetProperty("keys").EnumerateArray().Select(e => (Key: e.GetProperty("key").GetString()!, Shape: e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray())).ToList();
        Assert.Equal(keys.Select(k => k.Key).Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in keys) Assert.True(shape.SequenceEqual(state[key].shape), key);
        Assert.Equal(root.GetProperty("num_parameters").GetInt64(), model.parameters().Sum(p => p.numel()));
        Assert.Equal(root.GetProperty("num_state_dict_tensors").GetInt32(), state.Count);
    }

    private static SamModel BuildOnMeta(SamConfig config)
    {
        var previous = torch.get_default_device();
        torch.set_default_device(torch.META);
        try
        {
            return new SamModel(config);
        }
        finally
        {
            torch.set_default_device(previous);
        }
    }
}
