namespace Tessera.Tests;

/// <summary>
/// The encoder's attention works on cache-sized chunks of logits on one thread: on a 64 × 64 grid (1 MB of logits
/// per query row and head, so many chunks) and on windows, its output equals softmax(Logits) v projected, with the
/// logits taken whole by <see cref="VitAttention.Logits"/> (MViTv2 eq. 4).
/// </summary>
public sealed class SamAttentionChunkTests
{
    [Theory]
    [InlineData(64, 1)] // a global block's grid: 16 chunks of 4 query rows per head
    [InlineData(14, 40)] // 40 windows of 14 × 14 with 2 heads: 80 windows·heads in chunks of 27
    public void Chunked_attention_equals_the_whole_logits_form(int side, int batch)
    {
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var g = new torch.Generator(3);
            var attn = new VitAttention(32, 2, side);
            foreach (var p in attn.parameters()) p.copy_(torch.randn(p.shape, generator: g) * 0.3);
            var x = torch.randn([batch, side, side, 32], generator: g);
            var output = attn.forward(x);

            var logits = attn.Logits(x);
            var v = attn.Qkv.forward(x).reshape(batch, side * side, 3, 2, -1).permute(2, 0, 3, 1, 4).reshape(3, batch * 2, side * side, -1)[2];
            var y = torch.matmul(logits.softmax(-1), v).view(batch, 2, side, side, -1).permute(0, 2, 3, 1, 4).reshape(batch, side, side, -1);
            var expected = attn.Proj.forward(y);
            double err = (output - expected).abs().max().item<float>();
            Assert.True(err < 1e-5, $"max |chunked − whole| = {err}");
        }
        finally
        {
            torch.set_num_threads(threads);
        }
    }
}
