namespace Tessera.Tests;

/// <summary>
/// The mask decoder's fast paths against their textbook forms: the folded cross-attentions (few prompt tokens over
/// many image tokens, and back) equal <see cref="DecoderAttention.Direct"/> in value and in gradient, and the kept
/// dense positional encoding follows every change of the Gaussian matrix it comes from.
/// </summary>
public sealed class SamDecoderOrderTests
{
    private static bool Same(torch.Tensor a, torch.Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    private static double MaxRelative(torch.Tensor got, torch.Tensor want) =>
        (got - want).abs().max().item<float>() / Math.Max(1, want.abs().max().item<float>());

    [Theory]
    [InlineData(7, 1024, 1, DecoderAttentionOrder.FewQueries)] // tokens → image, one prompt (ViT-B widths)
    [InlineData(1024, 7, 1, DecoderAttentionOrder.FewKeys)] // image → tokens
    [InlineData(9, 256, 3, DecoderAttentionOrder.FewQueries)] // a batch of three prompts
    [InlineData(256, 9, 3, DecoderAttentionOrder.FewKeys)]
    [InlineData(7, 7, 2, DecoderAttentionOrder.Direct)] // token self-attention
    [InlineData(20, 1024, 1, DecoderAttentionOrder.Direct)] // 8 heads × 20 tokens exceed the width 128: no saving
    public void Folded_attention_equals_the_direct_order_in_value_and_gradient(int nq, int nk, int batch, DecoderAttentionOrder order)
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(11);
        var attn = new DecoderAttention(256, 8, downsampleRate: 2);
        using (torch.no_grad())
            foreach (var p in attn.parameters()) p.copy_(torch.randn(p.shape, generator: g) * 0.1);
        Assert.Equal(order, attn.OrderFor(nq, nk));
        var q = torch.randn([batch, nq, 256], generator: g);
        var k = torch.randn([batch, nk, 256], generator: g);
        var v = torch.randn([batch, nk, 256], generator: g);
        var weights = torch.randn([batch, nq, 256], generator: g);

        var fast = attn.forward(q, k, v);
        (fast * weights).sum().backward();
        var fastGrads = attn.parameters().Select(p => p.grad is null ? torch.zeros_like(p) : p.grad.clone()).ToArray();
        attn.zero_grad();
        var direct = attn.Direct(q, k, v);
        (direct * weights).sum().backward();
        var directGrads = attn.parameters().Select(p => p.grad is null ? torch.zeros_like(p) : p.grad.clone()).ToArray();

        Assert.True(MaxRelative(fast, direct) < 1e-5, $"output: {MaxRelative(fast, direct):E2}");
        var names = attn.named_parameters().Select(p => p.name).ToArray();
        for (int i = 0; i < fastGrads.Length; i++)
        {
            // The few-queries fold leaves the key bias out (it shifts a whole softmax row, so its gradient is zero in
            // the direct order too, up to rounding): no gradient there counts as zero.
            double err = MaxRelative(fastGrads[i], directGrads[i]);
            Assert.True(err < 1e-4, $"gradient of {names[i]}: {err:E2}");
        }
    }

    [Fact]
    public void Dense_positional_encoding_is_kept_and_follows_its_gaussian_matrix()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.Tensor Fresh(PromptEncoder e) => e.PositionalEncoding.Grid(e.EmbeddingSize.H, e.EmbeddingSize.W).unsqueeze(0);
        var config = SamFixtureTests.Tiny;
        torch.manual_seed(1);
        using var model = new SamModel(config);
        torch.manual_seed(2);
        using var other = new SamModel(config);
        var encoder = model.PromptEncoder;

        var first = encoder.DensePositionalEncoding();
        Assert.True(Same(first, Fresh(encoder)));
        Assert.True(first.permute(0, 2, 3, 1).is_contiguous()); // channels-last, as the decoder reads it
        Assert.True(Same(encoder.DensePositionalEncoding(), first));

        // Loading weights (another model's Gaussian matrix).
        model.load_state_dict(other.state_dict());
        var loaded = encoder.DensePositionalEncoding();
        Assert.True(Same(loaded, Fresh(other.PromptEncoder)));
        Assert.False(Same(loaded, first));

        // An in-place change of the matrix.
        encoder.PositionalEncoding.GaussianMatrix.mul_(2);
        var doubled = encoder.DensePositionalEncoding();
        Assert.True(Same(doubled, Fresh(encoder)));
        Assert.False(Same(doubled, loaded));
    }

    [Fact]
    public void Training_steps_leave_the_kept_encoding_equal_to_a_fresh_one()
    {
        // The Gaussian matrix is a buffer, not a parameter: an optimiser step over every parameter changes the decoder
        // but not the encoding, which must then still equal a fresh computation.
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        using var model = new SamModel(SamFixtureTests.Tiny);
        var encoder = model.PromptEncoder;
        var before = encoder.DensePositionalEncoding().clone();
        var optimizer = torch.optim.SGD(model.parameters(), 0.1);
        var points = torch.tensor(new float[] { 10, 20 }, [1, 1, 2]);
        var labels = torch.ones(1, 1, torch.ScalarType.Int64);
        var features = torch.randn(1, SamFixtureTests.Tiny.PromptDim, 8, 8);
        for (int step = 0; step < 2; step++)
        {
            optimizer.zero_grad();
            var (sparse, dense) = encoder.forward(points, labels, null, null);
            using var pred = model.MaskDecoder.forward(features, encoder.DensePositionalEncoding(), sparse, dense, true);
            pred.Masks.square().mean().backward();
            optimizer.step();
        }
        using var _ = torch.no_grad();
        var after = encoder.DensePositionalEncoding();
        Assert.True(Same(after, encoder.PositionalEncoding.Grid(8, 8).unsqueeze(0)));
        Assert.True(Same(after, before));
    }
}
