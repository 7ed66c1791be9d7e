using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Tests;

/// <summary>
/// SAM 2.1's memory attention and memory encoder against tests/fixtures/sam2video (README there): a tiny SAM 2.1 with
/// seeded random weights, the official facebookresearch/sam2 modules run on seeded inputs by PyTorch 2.6.
/// Tolerance (issue #27): within 1e-4·max(1, max|ref|).
/// </summary>
public sealed class Sam2MemoryFixtureTests(ITestOutputHelper log)
{
    internal static string Dir => Fixtures.Dir("sam2video");

    internal static string TinyCheckpoint => Path.Combine(Dir, "sam2.1_tiny_video.pt");

    internal static RecordedFixture Recorded { get; } = new(Dir, "sam2video_io.bin");

    // read outside any test's dispose scope: the tensors live for the whole run
    private static readonly Lazy<Dictionary<string, torch.Tensor>> Weights = new(() =>
    {
        var tensors = Checkpoint.ReadPyTorch(TinyCheckpoint);
        foreach (var t in tensors.Values) t.DetachFromDisposeScope();
        return tensors;
    });

    private static torch.Tensor Ref(string key) => Recorded.Ref(key);

    private void Close(torch.Tensor got, string key) => Recorded.Close(log, got, key);

    // A memory module built from the tiny checkpoint's configuration, with its weights under prefix, in eval mode.
    private static T Official<T>(Func<Sam2MemoryConfig, T> build, string prefix) where T : torch.nn.Module
    {
        var module = build(Sam2MemoryConfig.FromWeights(Sam2Weights.Shapes(Weights.Value)));
        Sam2Weights.Load(module, Weights.Value, prefix, TinyCheckpoint);
        module.eval();
        return module;
    }

    [Fact]
    public void Config_is_read_from_the_weights()
    {
        var c = Sam2MemoryConfig.FromWeights(Sam2Weights.Shapes(Weights.Value));
        Assert.Equal((32, 16, 2, 64, 4, 3, 2, 7), (c.Dim, c.MemoryDim, c.Layers, c.FeedForward, c.DownsamplerLayers, c.DownsamplerKernel, c.FuserLayers, c.FuserKernel));
    }

    [Fact]
    public void Memory_attention_matches_the_official_module()
    {
        using var scope = torch.NewDisposeScope();
        using var attention = Official(c => new Sam2MemoryAttention(c), "memory_attention.");
        using var _ = torch.no_grad();
        // the fixture's tensors are sequence-first [N, B, C], as the official module takes them
        torch.Tensor BatchFirst(string key) => Ref(key).transpose(0, 1);
        var curr = BatchFirst("attn/curr");
        var pos = BatchFirst("attn/curr_pos");
        var memory = BatchFirst("attn/memory");
        var memoryPos = BatchFirst("attn/memory_pos");
        Close(attention.Forward(curr, pos, memory, memoryPos, 4).transpose(0, 1), "attn/out");
        long spatial = memory.shape[1] - 4;
        Close(attention.forward(curr, pos, memory.narrow(1, 0, spatial), memoryPos.narrow(1, 0, spatial)).transpose(0, 1), "attn/out_no_ptr");
    }

    [Fact]
    public void Memory_encoder_matches_the_official_module()
    {
        using var scope = torch.NewDisposeScope();
        using var encoder = Official(c => new Sam2MemoryEncoder(c), "memory_encoder.");
        using var _ = torch.no_grad();
        var pix = Ref("enc/pix_feat");
        var masks = Ref("enc/masks");
        var (features, pos) = encoder.forward(pix, masks);
        Close(features, "enc/features");
        Close(pos, "enc/pos");
        Close(encoder.Forward(pix, torch.sigmoid(masks) * 20 - 10, skipMaskSigmoid: true).Features, "enc/features_skip_sigmoid");
        Close(encoder.DownsampleMask(torch.sigmoid(masks)), "enc/downsampled");
    }
}
