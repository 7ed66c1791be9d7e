using System.Diagnostics;
using Tessera.Layers;
using Tessera.Segmentation.Models;
using Tessera.Training;

namespace Tessera.Tests;

/// <summary>
/// Issue 28: oneDNN 3.7 (libtorch 2.10) dies with SIGFPE planning a channels-last 1 × 1 convolution 256→1024 (and four
/// other ResNet bottleneck channel pairs) at two threads or more (docs/known-issues.md), which killed DeepLabV3-ResNet-50
/// inference — and, found in session 5, returns wrong values for many other channels-last 1 × 1 convolutions at two
/// threads (160 → 320 at 64², MobileSAM's last patch merging: relative error 0.53). <see cref="PointwiseConvolution"/>
/// runs every channels-last 1 × 1 convolution as a matrix product: checked here against libtorch's own convolution on a
/// contiguous NCHW input (right for every pair scanned), and end to end by <c>tessera seg predict</c> of a
/// full-width DeepLabV3-ResNet-50 at 512² and two threads in a child process (the crash ends a process, so a regression
/// shows as exit code 136 there rather than taking the test host down).
/// </summary>
public sealed class OneDnnPointwiseTrapTests(ITestOutputHelper log)
{
    public static TheoryData<int, int, int, bool> Cases => new()
    {
        { 256, 1024, 1, false }, { 512, 1024, 1, true }, { 1024, 512, 1, false }, { 1024, 2048, 1, true }, { 512, 2048, 1, false },
        { 1024, 2048, 2, false }, { 256, 1024, 2, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trapped_pointwise_convolutions_equal_libtorchs_convolution(int cin, int cout, int stride, bool withBias)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var gen = new torch.Generator(7);
        var x = torch.randn([2, cin, 9, 11], generator: gen);
        var w = torch.randn([cout, cin, 1, 1], generator: gen).mul_(1.0 / Math.Sqrt(cin));
        var b = withBias ? torch.randn([cout], generator: gen) : null;
        var cl = MemoryFormat.ChannelsLast(x);
        long[] s = [stride, stride], p = [0, 0], d = [1, 1];
        Assert.True(PointwiseConvolution.Reroutes(cl, w, p, 1));
        Assert.False(PointwiseConvolution.Reroutes(x, w, p, 1)); // NCHW: the reference below
        var expected = torch.nn.functional.conv2d(x, w, b, s, p, d, 1);
        var got = PointwiseConvolution.Conv2d(cl, w, b, s, p, d, 1);
        Assert.Equal(expected.shape, got.shape);
        Assert.Equal(1, got.stride(1)); // stays channels-last for the next convolution
        double err = got.sub(expected).abs().max().item<float>(), scale = expected.abs().max().item<float>();
        Assert.True(err <= 1e-5 * scale, $"max |difference| {err:g3} against max |y| {scale:g3}");
    }

    // The wrong-value pairs, at the size where the scan found them (64², two threads: the test host's default on the
    // project's 2-core machine; libtorch's channels-last convolution gave relative errors of 0.45–0.77 here).
    [Theory]
    [InlineData(160, 320)]
    [InlineData(64, 512)]
    [InlineData(192, 1024)]
    public void Channels_last_pointwise_convolutions_oneDNN_gets_wrong_equal_the_NCHW_convolution(int cin, int cout)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var gen = new torch.Generator(11);
        var x = torch.randn([1, cin, 64, 64], generator: gen);
        var w = torch.randn([cout, cin, 1, 1], generator: gen).mul_(1.0 / Math.Sqrt(cin));
        var b = torch.randn([cout], generator: gen);
        long[] one = [1, 1], none = [0, 0];
        var expected = torch.nn.functional.conv2d(x, w, b, one, none, one, 1);
        var got = PointwiseConvolution.Conv2d(MemoryFormat.ChannelsLast(x), w, b, one, none, one, 1);
        double err = got.sub(expected).abs().max().item<float>(), scale = expected.abs().max().item<float>();
        log.WriteLine($"{cin} -> {cout} at {torch.get_num_threads()} threads: max |difference| {err:g3}, max |y| {scale:g3}");
        Assert.True(err <= 1e-5 * scale, $"max |difference| {err:g3} against max |y| {scale:g3}");
    }

    [Fact]
    public void Every_channels_last_pointwise_convolution_is_rerouted_and_nothing_else()
    {
        using var scope = torch.NewDisposeScope();
        var cl = MemoryFormat.ChannelsLast(torch.zeros(1, 256, 4, 4));
        long[] none = [0, 0];
        Assert.True(PointwiseConvolution.Reroutes(cl, torch.zeros(512, 256, 1, 1), none, 1));
        Assert.True(PointwiseConvolution.Reroutes(cl, torch.zeros(1024, 256, 1, 1), none, 1));
        Assert.False(PointwiseConvolution.Reroutes(cl, torch.zeros(1024, 256, 3, 3), [1, 1], 1)); // not 1 × 1
        Assert.False(PointwiseConvolution.Reroutes(torch.zeros(1, 256, 4, 4), torch.zeros(512, 256, 1, 1), none, 1)); // NCHW
        Assert.False(PointwiseConvolution.Reroutes(cl, torch.zeros(256, 1, 1, 1), none, 256)); // grouped
    }

    [Fact]
    public async Task Seg_predict_runs_a_full_width_DeepLabV3_ResNet50_at_512_on_two_threads()
    {
        using var dir = new TempDir();
        var config = new SegModelConfig { Model = SegModelKind.DeepLabV3, Classes = 3, Depth = 50, BaseWidth = 64, SmallStem = false, OutputStride = 8 };
        string ckpt = dir.File("deeplab.safetensors");
        using (var net = config.Build())
            TrainingCheckpoint.Save(ckpt, net, null, 0, CheckpointMetadata.For(ModelKind.Segmentation, config.ToJson()));
        Directory.CreateDirectory(dir.File("images"));
        using (var image = torch.rand([3, 512, 512], generator: new torch.Generator(3)))
            File.WriteAllBytes(Path.Combine(dir.File("images"), "a.png"), ImageIO.EncodePng(image));
        using var p = Process.Start(CliErrorPathTests.Child("seg", "predict", "--checkpoint", ckpt, "--input", dir.File("images"), "--output", dir.File("pred"), "--threads", "2", "-q"))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await p.WaitForExitAsync(timeout.Token);
        string err = await stderr;
        log.WriteLine(await stdout + err);
        Assert.True(p.ExitCode == 0, $"seg predict exited with {p.ExitCode} (136: oneDNN's SIGFPE): {err}");
        var label = LabelPng.Read(Path.Combine(dir.File("pred"), "labels", "a.png"));
        Assert.Equal((512, 512), (label.Width, label.Height));
    }
}
