using Tessera.Data;
using Tessera.Diffusion.Sampling;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Metrics;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

/// <summary>
/// Issue 28: inference at bfloat16 against float32 with stated tolerances — a segmentation network trained here
/// (mIoU against the scenes' true labels at both precisions), the PF-ODE sampler on the analytic ring problem
/// (exact reference) with a denoiser whose input and output are rounded to bfloat16 as a bfloat16 network's are
/// while the sampler's state stays in its own type, and a diffusion model's samples.
/// </summary>
[Collection("serial")] // trains with libtorch's global generator
public sealed class InferencePrecisionTests(ITestOutputHelper output)
{
    [Fact]
    public void Segmentation_bf16_keeps_the_mIoU_of_fp32()
    {
        using var dir = new TempDir();
        var options = new SegTrainOptions
        {
            Model = new SegModelConfig { Model = SegModelKind.Gcn, K = 3, BaseWidth = 16 },
            Training = SegTrainOptions.DefaultTraining with { Steps = 200, Batch = 8, EvalEvery = 0, CheckpointEvery = 1000, Seed = 11 },
            EvalScenes = 2,
        };
        new SegTrainer(options).Train(dir.Path, resume: false);
        string ckpt = Path.Combine(dir.Path, TrainingEngine.CheckpointFile);
        using var fp32 = SegmentationModel.Load(ckpt, torch.CPU, Precision.Float32);
        using var bf16 = SegmentationModel.Load(ckpt, torch.CPU, Precision.BFloat16);
        Assert.Equal(Precision.BFloat16, bf16.Precision);
        Assert.Contains(bf16.Network.parameters(), p => p.dtype == torch.ScalarType.BFloat16);
        using var test = FashionMnist.Load(Split.Test);
        using var batch = new FashionMnistScenes(test, new SceneOptions(Seed: 5)).Generate(0, 24);
        using var noGrad = torch.no_grad();
        using var logits32 = fp32.Network.forward(batch.Images);
        using var logits16 = bf16.Network.forward(batch.Images);
        Assert.Equal(torch.ScalarType.Float32, logits16.dtype);
        using var p32 = logits32.argmax(1);
        using var p16 = logits16.argmax(1);
        double agree = p32.eq(p16).to(torch.ScalarType.Float32).mean().item<float>();
        double m32 = MIoU(batch.Labels, p32), m16 = MIoU(batch.Labels, p16);
        output.WriteLine(FormattableString.Invariant($"mIoU fp32 {m32:0.0000}, bf16 {m16:0.0000} (delta {m16 - m32:+0.0000;-0.0000}); pixels agreeing {agree:P3}"));
        Assert.True(m32 > 0.2, $"the trained model is too weak to compare ({m32:0.000})");
        Assert.True(Math.Abs(m16 - m32) <= 0.01, $"bf16 mIoU {m16:0.0000} vs fp32 {m32:0.0000}: off by more than 0.01");
        Assert.True(agree >= 0.99, $"only {agree:P2} of pixels agree");
    }

    [Fact]
    public void Fp16_segmentation_on_a_cpu_without_fp16_instructions_is_refused()
    {
        if (Precision.Float16.IsNative(torch.CPU)) return; // such a CPU runs it
        var e = Assert.Throws<TesseraUserException>(() => SegmentationModel.Load("unused.safetensors", torch.CPU, Precision.Float16));
        Assert.Equal("precision", e.Parameter);
    }

    [Fact]
    public void Sampler_with_a_bf16_rounded_denoiser_stays_near_the_exact_ODE_solution()
    {
        var mixture = GaussianMixture.Ring();
        var noise = torch.randn([512, 2], torch.ScalarType.Float64, generator: new torch.Generator(7));
        var problem = new AnalyticProblem(mixture, noise);
        var reference = problem.OdeReference;
        var sigmas = SigmaGrids.Karras(18, problem.SigmaMin, problem.SigmaMax);
        torch.Tensor Run(Denoiser d)
        {
            using var n = new GeneratorNoise(0);
            return SamplerRegistry.Sample("heun", d, noise * sigmas[0], sigmas, n);
        }
        // What DiffusionModel.Denoise does at bf16: the network sees its input rounded and returns a rounded output; the
        // sampler's state and σ arithmetic stay in their own type.
        static torch.Tensor Round(torch.Tensor t) => t.to(torch.ScalarType.BFloat16).to(t.dtype);
        using var exact = Run(mixture.Denoise);
        using var rounded = Run((x, s) => { using var xr = Round(x); using var d = mixture.Denoise(xr, s); return Round(d); });
        double Rms(torch.Tensor a, torch.Tensor b) => (a - b).square().mean().sqrt().item<double>();
        double scale = reference.square().mean().sqrt().item<double>();
        double e32 = Rms(exact, reference), e16 = Rms(rounded, reference), gap = Rms(rounded, exact);
        output.WriteLine(FormattableString.Invariant($"ring, heun 18 steps: RMS vs ODE fp {e32:0.000000}, bf16-rounded denoiser {e16:0.000000}; RMS between them {gap:0.000000} (data RMS {scale:0.0000})"));
        Assert.True(gap <= 0.01 * scale, $"the bf16-rounded denoiser moved the samples by {gap:0.000000} RMS (bound {0.01 * scale:0.000000})");
        Assert.True(e16 <= e32 + 0.01 * scale, $"RMS error against the exact ODE {e16:0.000000} vs {e32:0.000000}");
    }

    [Fact]
    public void Diffusion_sampling_at_bf16_stays_near_fp32_and_cannot_go_back()
    {
        torch.manual_seed(3);
        using var model = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet()));
        var options = new DiffusionSamplingOptions { Sampler = "heun", Steps = 6, Batch = 4 };
        long[] seeds = [1, 2, 3, 4];
        using var a = DiffusionSampling.Sample(model, seeds, options, torch.CPU);
        using var b = DiffusionSampling.Sample(model, seeds, options with { Precision = Precision.BFloat16 }, torch.CPU);
        Assert.Equal(Precision.BFloat16, model.Precision);
        Assert.Equal(torch.ScalarType.Float32, b.dtype);
        double rms = (a - b).square().mean().sqrt().item<float>();
        output.WriteLine(FormattableString.Invariant($"tiny U-Net, heun 6 steps: RMS between fp32 and bf16 samples {rms:0.000000} (images in [0, 1])"));
        Assert.True(rms > 0 && rms <= 0.02, $"RMS {rms} between the fp32 and bf16 samples");
        var e = Assert.Throws<TesseraUserException>(() => DiffusionSampling.Sample(model, seeds, options, torch.CPU));
        Assert.Equal(nameof(DiffusionSamplingOptions.Precision), e.Parameter);
    }

    private static double MIoU(torch.Tensor labels, torch.Tensor prediction)
    {
        var cm = new ConfusionMatrix(FashionMnistScenes.NumClasses);
        cm.Add(labels, prediction);
        return SegmentationMetrics.Compute(cm).MIoU;
    }
}
