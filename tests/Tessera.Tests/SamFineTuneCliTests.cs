namespace Tessera.Tests;

/// <summary><c>tessera sam train|eval --dataset coco</c>: fine-tuning the fixture's tiny SAM on a tiny COCO set made here.</summary>
public sealed class SamFineTuneCliTests
{
    /// <summary>The tiny SAM as safetensors, and a COCO-layout set (split "train") of two images with two objects and a crowd region each.</summary>
    internal static (string Checkpoint, string Root) Prepare(TempDir dir)
    {
        TinySam.SaveSafetensors(dir.File("tiny.safetensors"));
        string root = dir.File("coco");
        Directory.CreateDirectory(Path.Combine(root, "annotations"));
        Directory.CreateDirectory(Path.Combine(root, "train"));
        var images = new List<object>();
        var annotations = new List<object>();
        int id = 1;
        for (int i = 0; i < 2; i++)
        {
            int h = 40 + 8 * i, w = 56;
            var pixels = new byte[3 * h * w];
            // A red rectangle, a blue triangle on a grey background, and a green crowd band at the bottom.
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    (byte r, byte g, byte b) = (90, 90, 90);
                    if (x >= 4 + i && x < 24 && y >= 5 && y < 25) (r, g, b) = (220, 30, 30);
                    else if (x >= 30 && y >= 4 && y < 30 && x - 30 < y - 4) (r, g, b) = (30, 30, 220);
                    else if (y >= h - 6) (r, g, b) = (30, 200, 30);
                    pixels[(0 * h + y) * w + x] = r;
                    pixels[(1 * h + y) * w + x] = g;
                    pixels[(2 * h + y) * w + x] = b;
                }
            using (var t = torch.tensor(pixels, [3, h, w])) ImageIO.SavePng(t, Path.Combine(root, "train", $"{i}.png"));
            images.Add(new { id = i + 1, file_name = $"{i}.png", height = h, width = w });
            annotations.Add(new { id = id++, image_id = i + 1, category_id = 1, iscrowd = 0, segmentation = new[] { new double[] { 4 + i, 5, 24, 5, 24, 25, 4 + i, 25 } } });
            annotations.Add(new { id = id++, image_id = i + 1, category_id = 2, iscrowd = 0, segmentation = new[] { new double[] { 30, 4, 30, 30, 56, 30 } } });
            annotations.Add(new { id = id++, image_id = i + 1, category_id = 1, iscrowd = 1, segmentation = new[] { new double[] { 0, h - 6, w, h - 6, w, h, 0, h } } });
        }
        File.WriteAllText(Path.Combine(root, "annotations", "instances_train.json"), JsonSerializer.Serialize(new
        {
            images,
            annotations,
            categories = new[] { new { id = 1, name = "box" }, new { id = 2, name = "triangle" } },
        }));
        return (dir.File("tiny.safetensors"), root);
    }

    private static string[] Train(string ckpt, string root, string run, params string[] extra) =>
        ["sam", "train", "--init", ckpt, "--dataset", "coco", "--data-root", root, "--split", "train", "--steps", "3", "--batch", "2", "--rounds", "2",
            "--lr", "1e-3", "--seed", "7", "--out", run, "-q", .. extra];

    private static Dictionary<string, byte[]> Tensors(string path)
    {
        using var file = SafeTensors.Load(path);
        return file.Tensors.ToDictionary(p => p.Key, p => p.Value.contiguous().bytes.ToArray());
    }

    [Fact]
    public void Frozen_encoder_fine_tune_is_bit_identical_with_cached_embeddings_and_changes_the_decoder()
    {
        using var dir = new TempDir();
        var (ckpt, root) = Prepare(dir);
        var (code, output) = CliTests.Run(Train(ckpt, root, dir.File("plain"), "--freeze-encoder"));
        Assert.True(code == 0, output);
        string cache = dir.File("cache");
        (code, output) = CliTests.Run(Train(ckpt, root, dir.File("cold"), "--freeze-encoder", "--embedding-cache", cache));
        Assert.True(code == 0, output);
        Assert.Contains("embedding cache: 4 read, 2 computed", output); // 6 examples of 2 images: each encoded once
        (code, output) = CliTests.Run(Train(ckpt, root, dir.File("warm"), "--freeze-encoder", "--embedding-cache", cache));
        Assert.True(code == 0, output);
        Assert.Contains("embedding cache: 6 read, 0 computed", output);

        var plain = Tensors(Path.Combine(dir.File("plain"), "model.safetensors"));
        foreach (var run in new[] { "cold", "warm" })
        {
            var other = Tensors(Path.Combine(dir.File(run), "model.safetensors"));
            Assert.Equal(plain.Keys.Order(), other.Keys.Order());
            foreach (var (name, bytes) in plain) Assert.True(bytes.AsSpan().SequenceEqual(other[name]), $"{run}: {name} differs");
        }
        // Training happened where it should: decoder weights moved, encoder weights did not.
        var init = Tensors(ckpt);
        Assert.Contains(plain.Keys, k => k.StartsWith("mask_decoder.", StringComparison.Ordinal) && !init[k].AsSpan().SequenceEqual(plain[k]));
        Assert.All(plain.Keys.Where(k => k.StartsWith("image_encoder.", StringComparison.Ordinal)), k => Assert.True(init[k].AsSpan().SequenceEqual(plain[k]), k));
    }

    [Fact]
    public void Eval_scores_every_non_crowd_object_by_size_and_lora_adapters_merge_on_load()
    {
        using var dir = new TempDir();
        var (ckpt, root) = Prepare(dir);
        var (code, output) = CliTests.Run("sam", "eval", "--checkpoint", ckpt, "--dataset", "coco", "--data-root", root, "--split", "train", "--clicks", "3", "--json", dir.File("before.json"), "-q");
        Assert.True(code == 0, output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir.File("before.json"))))
        {
            var all = doc.RootElement.GetProperty("all");
            Assert.Equal(4, all.GetProperty("objects").GetInt32()); // the crowd bands are never prompted
            Assert.Equal(3, all.GetProperty("miou_by_clicks").GetArrayLength());
            Assert.All(all.GetProperty("miou_by_clicks").EnumerateArray(), v => Assert.InRange(v.GetDouble(), 0, 1));
            Assert.InRange(all.GetProperty("box_miou").GetDouble(), 0, 1);
            // Rectangles of 400 and 380 px and triangles of 325 px are all COCO-small (< 32²).
            var sizes = doc.RootElement.GetProperty("by_size");
            Assert.Equal(4, sizes.GetProperty("small").GetProperty("objects").GetInt32());
            Assert.False(sizes.TryGetProperty("large", out _));
        }

        (code, output) = CliTests.Run(Train(ckpt, root, dir.File("lora"), "--lora-rank", "2"));
        Assert.True(code == 0, output);
        string model = Path.Combine(dir.File("lora"), "model.safetensors"), lora = Path.Combine(dir.File("lora"), "lora.safetensors");
        Assert.True(File.Exists(lora));
        // The adapters live apart: the exported encoder weights are the initial ones.
        var init = Tensors(ckpt);
        var trained = Tensors(model);
        Assert.All(trained.Keys.Where(k => k.StartsWith("image_encoder.", StringComparison.Ordinal)), k => Assert.True(init[k].AsSpan().SequenceEqual(trained[k]), k));
        (code, output) = CliTests.Run("sam", "eval", "--checkpoint", model, "--lora", lora, "--dataset", "coco", "--data-root", root, "--split", "train", "--clicks", "2", "-q");
        Assert.True(code == 0, output);
        string image = Path.Combine(root, "train", "0.png");
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", model, "--lora", lora, "--image", image, "--point", "10,10", "--out", dir.File("m.png"), "-q");
        Assert.True(code == 0, output);
        (code, output) = CliTests.Run("sam", "segment", "--checkpoint", model, "--lora", ckpt, "--image", image, "--point", "10,10", "--out", dir.File("m.png"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("not a SAM LoRA adapter file", output);
    }
}
