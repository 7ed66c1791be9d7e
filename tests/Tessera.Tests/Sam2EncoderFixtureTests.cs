using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// SAM 2.1's image encoder (Hiera trunk, FPN neck, sine position encodings, scalp) against tests/fixtures/sam2 (README
/// there): a tiny SAM 2.1 with seeded random weights run by the official facebookresearch/sam2 code (PyTorch 2.6) on a
/// real photo, every trunk level, neck output and position encoding recorded, and the released t/s/b+/l key listings.
/// Tolerance (issue #27): 1e-4·max(1, max|ref|) per stage.
/// </summary>
public sealed class Sam2EncoderFixtureTests(ITestOutputHelper log)
{
    private static RecordedFixture Fixture => Sam2Fixture.Recorded;
    private static readonly Lazy<Sam2ImageEncoder> Encoder = new(() =>
    {
        var e = Sam2ImageEncoder.Load(Sam2Fixture.TinyCheckpoint);
        e.eval();
        return e;
    });

    private static torch.Tensor Ref(string key) => Fixture.Ref(key);

    private readonly List<(string Key, double Error)> _errors = [];

    private void Close(torch.Tensor got, string key, double rel = 1e-4) => _errors.Add((key, Fixture.Close(log, got, key, rel)));

    // Every s-th row and column down to a 32 × 32 (or `grid`) map, and channel 0 in full where that is strided, as the generator stores them.
    private void CloseMap(torch.Tensor map, string key, int grid = 32, bool channel0 = true)
    {
        int stride = Math.Max(1, (int)map.shape[2] / grid);
        var s = torch.TensorIndex.Slice(0, null, stride);
        Close(map[.., .., s, s], key);
        if (channel0 && stride > 1) Close(map[.., 0], $"{key}/channel0");
    }

    // SAM2Transforms on a uint8 [3, H, W] photo: ToTensor (÷255), Resize((1024, 1024)) of the float tensor (bilinear,
    // antialias on, align_corners off), Normalize with ImageNet's mean and std.
    private static torch.Tensor Preprocess(torch.Tensor rgb)
    {
        var x = (rgb.to(torch.ScalarType.Float32) / 255).unsqueeze(0);
        x = torch.nn.functional.interpolate(x, [1024, 1024], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var mean = torch.tensor(new[] { 0.485f, 0.456f, 0.406f }).view(1, 3, 1, 1);
        var std = torch.tensor(new[] { 0.229f, 0.224f, 0.225f }).view(1, 3, 1, 1);
        return (x - mean) / std;
    }

    private static Dictionary<string, long[]> Listing(string file) => Fixture.Listing(file);

    private static void SameEncoderKeys(Dictionary<string, long[]> listing, Sam2ImageEncoder encoder)
    {
        var expected = listing.Where(kv => kv.Key.StartsWith("image_encoder.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var state = encoder.state_dict().ToDictionary(kv => "image_encoder." + kv.Key, kv => kv.Value);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, shape) in expected) Assert.True(shape.SequenceEqual(state[k].shape), $"{k}: [{string.Join(",", state[k].shape)}] vs [{string.Join(",", shape)}]");
    }

    public static IEnumerable<object[]> Released() => [["t"], ["s"], ["b+"], ["l"]];

    [Theory]
    [MemberData(nameof(Released))]
    public void Released_encoder_has_the_official_keys_and_shapes_and_its_sizes_are_read_back(string size)
    {
        var listing = Listing($"sam2.1_hiera_{size}_keys.json");
        var config = new Sam2EncoderConfig(HieraConfig.Released[size]);
        using (var encoder = new Sam2ImageEncoder(config)) SameEncoderKeys(listing, encoder);
        var inferred = Sam2EncoderConfig.FromWeights(k => listing.GetValueOrDefault(k));
        Assert.True(inferred.SameAs(config), $"{size}: read back {inferred.Trunk}");
        Assert.Equal(256, inferred.DModel);
    }

    [Fact]
    public void Kept_position_embedding_follows_its_tables()
    {
        // Inference keeps the last grid's embedding; a change of the tables (a load, a training step) must show. Bicubic
        // weights sum to 1, so adding 1 to the background table adds 1 to every embedding value.
        using var hiera = new Hiera(new HieraConfig(16, 1, [1, 1, 2, 1], [3], [8, 4, 14, 7], [7, 7]));
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var table = hiera.named_parameters().Single(p => p.name == "pos_embed").parameter;
        table.copy_(torch.randn(table.shape, generator: new torch.Generator(9)));
        var first = hiera.PositionEmbedding(32, 32).clone();
        Assert.True(hiera.PositionEmbedding(32, 32).allclose(first, 0, 0));
        table.add_(1);
        var changed = hiera.PositionEmbedding(32, 32);
        Assert.True((changed - first - 1).abs().max().item<float>() < 1e-5, "the kept embedding did not follow pos_embed");
        Assert.Equal([1L, 16, 16, 16], hiera.PositionEmbedding(16, 16).shape);
    }

    [Fact]
    public void Tiny_checkpoint_loads_and_its_sizes_are_read_from_the_weights()
    {
        SameEncoderKeys(Listing("sam2.1_tiny_keys.json"), Encoder.Value);
        var c = Encoder.Value.Config;
        Assert.Equal(16, c.Trunk.EmbedDim);
        Assert.Equal([1, 1, 2, 1], c.Trunk.Stages);
        Assert.Equal([3], c.Trunk.GlobalAttentionBlocks);
        Assert.Equal([8, 4, 14, 7], c.Trunk.WindowSpec);
        Assert.Equal([7, 7], c.Trunk.WindowPositionEmbeddingSize);
        Assert.Equal((1, 32, 1), (c.Trunk.NumHeads, c.DModel, c.Scalp));
        Assert.Equal([128, 64, 32, 16], c.BackboneChannelList);
        // what the official constructor derives: heads 1, 2, 4, 4, 8; windows lag a block at stage starts
        Assert.Equal([8, 8, 4, 0, 14], c.Trunk.Blocks().Select(b => b.Window));
        Assert.Equal([1, 2, 4, 4, 8], c.Trunk.Blocks().Select(b => b.Heads));
        Assert.Equal([false, true, true, false, true], c.Trunk.Blocks().Select(b => b.PoolsQueries));
    }

    [Fact]
    public void Encoder_built_inside_a_dispose_scope_keeps_its_position_tables()
    {
        Sam2ImageEncoder encoder;
        using (torch.NewDisposeScope()) encoder = new Sam2ImageEncoder(Sam2EncoderConfig.Tiny);
        using (encoder)
        {
            var state = encoder.state_dict();
            Assert.Equal([1L, 96, 7, 7], state["trunk.pos_embed"].shape);
            Assert.Equal([1L, 96, 8, 8], state["trunk.pos_embed_window"].shape);
        }
    }

    [Fact]
    public void A_batch_gives_each_image_what_it_gives_alone()
    {
        var encoder = Encoder.Value;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var input = Preprocess(ImageIO.Load(Path.Combine(Sam2Fixture.Dir, "photo.png"), ColorMode.Rgb));
        using var alone = encoder.forward(input);
        using var flippedAlone = encoder.forward(input.flip(3));
        using var batch = encoder.forward(torch.cat([input, input.flip(3)], 0));
        for (int l = 0; l < 3; l++)
        {
            Assert.Equal(2, batch.BackboneFpn[l].shape[0]);
            foreach (var (one, i) in new[] { (alone, 0), (flippedAlone, 1) })
            {
                double err = (batch.BackboneFpn[l][i] - one.BackboneFpn[l][0]).abs().max().item<float>();
                double scale = Math.Max(1, one.BackboneFpn[l].abs().max().item<float>());
                Assert.True(err <= 1e-5 * scale, $"level {l}, image {i}: {err:E2}");
                Assert.True(Same.Tensors(batch.PositionEncodings[l][i], one.PositionEncodings[l][0]));
            }
        }
    }

    [Fact]
    public void A_checkpoint_without_a_sam2_encoder_is_refused_naming_the_file_and_tensor()
    {
        var e = Assert.Throws<TesseraFormatException>(() => Sam2ImageEncoder.Load(MobileSamFixtureTests.TinyCheckpoint));
        Assert.Contains("mobilesam_tiny.pt", e.Message);
        Assert.Contains("trunk.patch_embed.proj.weight", e.Message);
    }

    [Fact]
    public void Encoder_matches_the_official_code_stage_by_stage()
    {
        var encoder = Encoder.Value; // built outside the test's dispose scope
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var rgb = ImageIO.Load(Path.Combine(Sam2Fixture.Dir, "photo.png"), ColorMode.Rgb);
        Assert.True(Same.Tensors(rgb.permute(1, 2, 0), Ref("image")));
        var input = Preprocess(rgb);
        var s8 = torch.TensorIndex.Slice(0, null, 8);
        Close(input[.., .., s8, s8], "input_strided", 1e-5);
        Close(input[0, 0].sum(1), "input/channel0_row_sums", 1e-5);
        Close(input.to(torch.ScalarType.Float64).sum().reshape(1), "input_sum", 1e-5);

        var trunk = encoder.Trunk;
        var tokens = trunk.PatchEmbedding(input);
        CloseMap(tokens.permute(0, 3, 1, 2), "trunk/patch_embed", channel0: false);
        var pos = trunk.PositionEmbedding(tokens.shape[1], tokens.shape[2]);
        CloseMap(pos.permute(0, 3, 1, 2), "trunk/pos_embed", channel0: false);
        var ends = trunk.Config.StageEnds;
        int i = 0;
        foreach (var block in trunk.BlockOutputs(tokens + pos))
        {
            if (!ends.Contains(i)) CloseMap(block.permute(0, 3, 1, 2), $"trunk/block{i}");
            i++;
        }
        var levels = trunk.forward(input);
        Assert.Equal(4, levels.Count);
        for (int l = 0; l < levels.Count; l++) CloseMap(levels[l], $"trunk/level{l}");
        var (features, positions) = encoder.Neck.forward(levels);
        for (int l = 0; l < features.Count; l++)
        {
            CloseMap(features[l], $"neck/level{l}");
            CloseMap(positions[l], $"neck/pos{l}", grid: 16, channel0: false);
        }

        // The encoder's output is the neck's after the scalp: three levels, the image embedding last.
        using var output = encoder.forward(input);
        Assert.Equal(3, output.BackboneFpn.Count);
        Assert.Equal(3, output.PositionEncodings.Count);
        for (int l = 0; l < 3; l++)
        {
            Assert.True(Same.Tensors(output.BackboneFpn[l], features[l]), $"backbone_fpn {l}");
            Assert.True(Same.Tensors(output.PositionEncodings[l], positions[l]), $"vision_pos_enc {l}");
        }
        Assert.Equal([1L, 32, 64, 64], output.VisionFeatures.shape);

        // In full: what the official predictor stores (image_embed = level 2 + no_mem_embed; high_res_feats = the mask
        // decoder's conv_s0/conv_s1 of levels 0 and 1, weights from the same checkpoint).
        Close(output.VisionFeatures + Ref("no_mem_embed").view(1, -1, 1, 1), "features/image_embed");
        var weights = Checkpoint.ReadPyTorch(Sam2Fixture.TinyCheckpoint);
        try
        {
            for (int l = 0; l < 2; l++)
            {
                var conv = torch.nn.functional.conv2d(output.BackboneFpn[l], weights[$"sam_mask_decoder.conv_s{l}.weight"], weights[$"sam_mask_decoder.conv_s{l}.bias"]);
                Close(conv, $"features/high_res_feats{l}");
            }
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
        var worst = _errors.MaxBy(e => e.Error);
        log.WriteLine($"worst: {worst.Key} {worst.Error:E2} over {_errors.Count} comparisons");
    }
}
