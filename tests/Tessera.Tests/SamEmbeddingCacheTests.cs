namespace Tessera.Tests;

/// <summary>The embedding cache with the tiny official SAM: float32 hits are bit-identical, keys separate what must differ.</summary>
public sealed class SamEmbeddingCacheTests
{
    private static SamModel Tiny() => TinySam.Load();

    private static (torch.Tensor Masks, torch.Tensor Iou) Decode(SamModel model, torch.Tensor features)
    {
        using var _ = torch.no_grad();
        var coords = torch.tensor(new float[] { 20, 30, 40, 12 }, [1, 2, 2]);
        var labels = torch.tensor(new long[] { 1, 0 }, [1, 2]);
        var (sparse, dense) = model.PromptEncoder.forward(coords, labels, null, null);
        var pred = model.MaskDecoder.forward(features, model.PromptEncoder.DensePositionalEncoding(), sparse, dense, true);
        return (pred.Masks, pred.Iou);
    }

    [Fact]
    public void Float32_hits_are_bit_identical_to_computing_and_give_the_same_masks()
    {
        using var dir = new TempDir();
        using var model = Tiny();
        using var image = torch.randn([1, 3, 64, 64], generator: new torch.Generator(3));
        torch.Tensor Encode()
        {
            using var _ = torch.no_grad();
            return model.ImageEncoder.forward(image);
        }
        var cache = new SamEmbeddingCache(dir.File("cache"), SamEmbeddingCache.ModelKey(model));
        string key = SamEmbeddingCache.ImageKey(image);
        int computed = 0;
        using var uncached = Encode();
        using var first = cache.GetOrCompute(key, "64", () => { computed++; return Encode(); });
        using var second = cache.GetOrCompute(key, "64", () => { computed++; return Encode(); });
        Assert.Equal(1, computed);
        Assert.Equal((1L, 1L), (cache.Hits, cache.Misses));
        Assert.True(Same.Tensors(uncached, first) && Same.Tensors(uncached, second));
        var (m1, i1) = Decode(model, uncached);
        var (m2, i2) = Decode(model, second);
        Assert.True(Same.Tensors(m1, m2) && Same.Tensors(i1, i2));

        // Another variant, another encoder (one weight changed) or a torn file: computed again.
        Assert.Null(cache.TryGet(key, "64|hflip"));
        using (torch.no_grad()) ((ImageEncoderViT)model.ImageEncoder).Blocks[0].Attention.Proj.bias!.add_(1e-3f);
        var changed = new SamEmbeddingCache(dir.File("cache"), SamEmbeddingCache.ModelKey(model));
        Assert.Null(changed.TryGet(key, "64"));
        string path = cache.PathOf(key, "64");
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..40]);
        Assert.Null(cache.TryGet(key, "64"));
        using var again = cache.GetOrCompute(key, "64", () => { computed++; return uncached.clone(); });
        Assert.Equal(2, computed);
        Assert.NotNull(cache.TryGet(key, "64"));
    }

    [Fact]
    public void Float16_entries_are_within_half_precision_rounding_and_the_same_on_every_epoch()
    {
        using var dir = new TempDir();
        using var model = Tiny();
        using var image = torch.randn([1, 3, 64, 64], generator: new torch.Generator(4));
        using var exact = model.ImageEncoder.forward(image).detach();
        var cache = new SamEmbeddingCache(dir.File("cache"), SamEmbeddingCache.ModelKey(model), EmbeddingPrecision.Float16);
        using var first = cache.GetOrCompute("img", "64", () => exact.clone());
        using var second = cache.GetOrCompute("img", "64", () => throw new InvalidOperationException("must be cached"));
        Assert.Equal(torch.ScalarType.Float32, second.dtype);
        Assert.True(Same.Tensors(first, second));
        // Round to nearest float16: |x − fp16(x)| ≤ 2⁻¹¹·|x| for normal values (plus 2⁻²⁵ below the normal range).
        using var bound = exact.abs() * Math.Pow(2, -11) + Math.Pow(2, -25);
        Assert.True(((first - exact).abs() <= bound).all().item<bool>());
        Assert.True(new FileInfo(cache.PathOf("img", "64")).Length < exact.numel() * 4);
    }
}
