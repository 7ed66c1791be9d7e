using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

/// <summary>What the command line used to hold and a C# user now calls: sizing presets, per-seed sampling, loading a segmentation model, overlays, masks.json, parameter-named errors.</summary>
public sealed class LibraryEntryPointTests
{
    private static long Parameters(torch.nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void Small_sam_has_the_documented_parameter_count_and_rejects_bad_sizes()
    {
        // docs/sam.md: the 64 × 64, width 128, 4-block model has 1,772,196 parameters.
        using (var model = new SamModel(SamConfig.Small())) Assert.Equal(1_772_196, Parameters(model));
        var c = SamConfig.Small(canvas: 128, width: 192, depth: 6);
        Assert.Equal((128, 8, 192, 6), (c.ImageSize, c.PatchSize, c.PromptDim, c.EncoderHeads));
        Assert.Equal([1, 3, 5], c.GlobalBlocks);
        c.Validate();
        var e = Assert.Throws<TesseraUserException>(() => SamConfig.Small(width: 100));
        Assert.Equal("width", e.Parameter);
        Assert.Equal("depth", Assert.Throws<TesseraUserException>(() => SamConfig.Small(depth: 3)).Parameter);
    }

    [Fact]
    public void Width_presets_give_the_reference_networks()
    {
        using (var unet = new UNet(UNetConfig.FromWidth(inChannels: 1, imageSize: 28))) Assert.Equal(UNetTests.ReferenceParameterCount, Parameters(unet));
        var dit = DiTConfig.FromWidth(3, 32, patchSize: 4, hidden: 128, depth: 2, classes: 10);
        Assert.Equal((2, 4.0, 8), (dit.Heads, dit.MlpRatio, dit.Grid));
        Assert.Equal("patchSize", Assert.Throws<TesseraUserException>(() => DiTConfig.FromWidth(1, 28, patchSize: 3)).Parameter);
        using var small = new UNet(UNetConfig.SmallFashionMnist);
        Assert.Equal(10, small.Config.Classes);
    }

    [Fact]
    public void Sample_i_depends_only_on_seed_i_whatever_the_batch()
    {
        torch.manual_seed(3);
        using var model = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet(classes: 4)));
        var options = new DiffusionSamplingOptions { Sampler = "euler_ancestral", Steps = 3, Batch = 2, Guidance = 1.5 };
        long[] seeds = [10, 11, 12, 13, 14];
        using var twos = DiffusionSampling.Sample(model, seeds, options, torch.CPU);
        using var all = DiffusionSampling.Sample(model, seeds, options with { Batch = 5 }, torch.CPU);
        Assert.Equal(new long[] { 5, 1, 28, 28 }, twos.shape);
        // Equal up to the rounding of batched kernels (libtorch may sum in another order for another batch size).
        double batchGap = (twos - all).abs().max().item<float>();
        Assert.True(batchGap < 1e-5, $"batch size changed the samples by {batchGap}");
        // Seed 12 alone (its class 12 mod 4 = 0 wherever it stands) is row 2.
        using var one = DiffusionSampling.Sample(model, [12], options, torch.CPU);
        double alone = (one[0] - all[2]).abs().max().item<float>();
        Assert.True(alone < 1e-5, $"sample 2 depends on the other seeds by {alone}");
        Assert.True(all.min().item<float>() >= 0 && all.max().item<float>() <= 1);
        Assert.True((all[0] - all[4]).abs().max().item<float>() > 0.1, "different seeds gave alike samples");
        Assert.Equal("Classes", Assert.Throws<TesseraUserException>(() => DiffusionSampling.Sample(model, seeds, options with { Classes = [4] }, torch.CPU)).Parameter);
    }

    [Fact]
    public void A_segmentation_checkpoint_loads_and_predicts_its_networks_labels()
    {
        using var dir = new TempDir();
        var config = new SegModelConfig { Model = Tessera.Segmentation.Models.SegModelKind.Gcn, K = 3, BaseWidth = 16 };
        torch.manual_seed(5);
        using var net = config.Build();
        TrainingCheckpoint.Save(dir.File("seg.safetensors"), net, null, 7, CheckpointMetadata.For(ModelKind.Segmentation, config.ToJson()));
        using var model = SegmentationModel.Load(dir.File("seg.safetensors"));
        Assert.Equal(3, model.Config.K);
        var image = torch.randint(0, 256, [3, 40, 40], dtype: torch.ScalarType.Byte);
        using var labels = model.Predict(image);
        net.eval();
        using (torch.no_grad())
        {
            using var expected = net.forward(image.to(torch.ScalarType.Float32).div(255f).unsqueeze(0)).argmax(1)[0];
            Assert.True(labels.equal(expected).all().item<bool>());
        }
        Assert.Equal(new long[] { 40, 40 }, labels.shape);
        TrainingCheckpoint.Save(dir.File("other.safetensors"), net, null, 7, new Dictionary<string, string>());
        Assert.Throws<TesseraFormatException>(() => SegmentationModel.Load(dir.File("other.safetensors")));
    }

    [Fact]
    public void Overlays_blend_only_under_masks_and_label_maps_everywhere()
    {
        var image = torch.randint(0, 256, [3, 6, 5], dtype: torch.ScalarType.Byte);
        var x = image.to(torch.ScalarType.Float32).div(255f);
        var mask = torch.zeros(6, 5, dtype: torch.ScalarType.Bool);
        mask[2, 3] = true;
        using var over = MaskOverlay.Masks(image, [mask], [(255, 0, 0)], opacity: 0.25f);
        var outside = mask.logical_not().unsqueeze(0).expand(3, 6, 5);
        Assert.True(over.masked_select(outside).equal(x.masked_select(outside)).all().item<bool>());
        var inside = over[.., 2, 3];
        var want = x[.., 2, 3] * 0.75f + torch.tensor(new[] { 1f, 0f, 0f }) * 0.25f;
        Assert.True(inside.allclose(want, rtol: 0, atol: 1e-6));
        // A label map at opacity 0.5 is the mean of the image and the scene palette's colouring.
        var labels = torch.tensor(new long[] { 0, 1, 2, 255, 10, 3 }, dtype: torch.ScalarType.Int64).view(2, 3);
        var small = image[.., ..2, ..3];
        using var blended = MaskOverlay.Labels(small, labels, FashionMnistScenes.Palette);
        var colour = FashionMnistScenes.Colorize(labels).to(torch.ScalarType.Float32).div(255f);
        Assert.True(blended.allclose(small.to(torch.ScalarType.Float32).div(255f) * 0.5 + colour * 0.5, rtol: 0, atol: 1e-6));
        Assert.NotEqual(MaskOverlay.Colour(0), MaskOverlay.Colour(1));
    }

    [Fact]
    public void Masks_json_has_amg_fields_and_rles_that_decode_to_the_masks()
    {
        using var dir = new TempDir();
        bool[] pixels = [false, true, true, false, false, true];
        var rle = MaskRle.Encode(pixels, 2, 3);
        var mask = new AmgMask(rle, rle.Area, [0, 0, 3, 2], 0.9, [1.5, 0.5], 0.97, [0, 0, 3, 2]);
        AmgJson.Write(dir.File("masks.json"), [mask, mask], MaskJsonFormat.CocoRle, ids: true);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("masks.json")));
        var first = doc.RootElement[1];
        Assert.Equal(["id", "segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, first.GetProperty("id").GetInt32());
        var seg = first.GetProperty("segmentation");
        Assert.Equal(pixels, MaskRle.FromCocoString(seg.GetProperty("counts").GetString()!, 2, 3).Decode());
        Assert.Equal(3, first.GetProperty("area").GetInt64());
        AmgJson.Write(dir.File("png.json"), [mask], MaskJsonFormat.BinaryMask, ids: true);
        Assert.Contains("masks/000.png", File.ReadAllText(dir.File("png.json")));
        // Uncompressed RLE: the run lengths themselves; without ids, SA-1B's records as amg.py writes them.
        AmgJson.Write(dir.File("counts.json"), [mask], MaskJsonFormat.UncompressedRle);
        using var counts = JsonDocument.Parse(File.ReadAllText(dir.File("counts.json")));
        Assert.Equal(rle.Counts, counts.RootElement[0].GetProperty("segmentation").GetProperty("counts").EnumerateArray().Select(v => v.GetInt64()));
        Assert.Equal(["segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"], counts.RootElement[0].EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Library_errors_name_the_parameter_and_the_command_line_names_the_flag()
    {
        var e = Assert.Throws<TesseraUserException>(() => new SegModelConfig { K = 4 }.Validate());
        Assert.Equal("K", e.Parameter);
        Assert.StartsWith("K: 4 must be odd", e.Message);
        Assert.DoesNotContain("--", e.Message);
        var (code, output) = CliTests.Run("seg", "train", "--k", "4", "--steps", "1");
        Assert.Equal(2, code);
        Assert.StartsWith("tessera: error: --k: 4 must be odd", output);
        (code, output) = CliTests.Run("seg", "train", "--model", "unet", "--steps", "1");
        Assert.StartsWith("tessera: error: --model: 'unet' is not a model", output);
    }
}
