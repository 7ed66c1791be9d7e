using Tessera.Diffusion.Training;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

/// <summary>
/// Issue 28: bfloat16 mixed-precision training (<see cref="TrainingOptions.Precision"/>: libtorch's autocast over the
/// forward pass, float32 master weights and loss) against the same run in float32 — same seed, data and steps — for the
/// three trainers (each run's largest and mean relative gap and both curves go to the test output). The bfloat16 curve must differ from the float32 one (autocast is on) and stay within
/// <see cref="Bound"/> of it at every step, and the checkpoint's weights must be float32.
/// </summary>
[Collection("serial")] // the trainers seed libtorch's global generator
public sealed class MixedPrecisionTrainingTests(ITestOutputHelper output)
{
    /// <summary>Largest relative gap |bf16 − fp32| / fp32 of any step's loss.</summary>
    private const double Bound = 0.10;

    private const int Steps = 16;

    /// <summary>The run of <paramref name="kind"/> (a <see cref="TinyTrainers"/> kind) in <paramref name="precision"/>.</summary>
    private static TrainingOptions Options(string kind, Precision precision) => kind switch
    {
        "seg" => SegTrainOptions.DefaultTraining with { Steps = Steps, Batch = 2, WarmupSteps = 0, EvalEvery = 0, CheckpointEvery = 1000, Seed = 3, Precision = precision },
        "diffusion" => DiffusionTrainOptions.DefaultTraining with { Steps = Steps, Batch = 8, LearningRate = 2e-3, WarmupSteps = 0, CheckpointEvery = 1000, SampleEvery = 0, PreviewAtEnd = false, Seed = 2, Precision = precision },
        "sam" => SamTrainOptions.DefaultTraining with { Steps = Steps, Batch = 2, WarmupSteps = 0, EvalEvery = Steps, CheckpointEvery = 1000, Seed = 4, Precision = precision },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "diffusion, seg or sam"),
    };

    [Fact]
    public void Fp16_on_a_cpu_without_fp16_instructions_is_refused()
    {
        var o = new TrainingOptions { Precision = Precision.Float16 };
        if (Precision.Float16.IsNative(torch.CPU)) return; // such a CPU runs it
        var e = Assert.Throws<TesseraUserException>(() => new TrainingEngine(o));
        Assert.Equal(nameof(TrainingOptions.Precision), e.Parameter);
        Assert.Contains("bf16", e.Message);
    }

    [Theory]
    [MemberData(nameof(TinyTrainers.Kinds), MemberType = typeof(TinyTrainers))]
    public void Bf16_tracks_fp32(string what)
    {
        double[] Run(Precision p)
        {
            using var dir = new TempDir();
            var losses = new List<double>();
            TinyTrainers.Train(what, Options(what, p), dir.Path, resume: false, new InlineProgress<TrainingProgress>(step => losses.Add(step.Loss)));
            using var f = SafeTensors.Load(Path.Combine(dir.Path, TrainingEngine.CheckpointFile));
            Assert.All(f.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) && kv.Value.is_floating_point()),
                kv => Assert.Equal(torch.ScalarType.Float32, kv.Value.dtype));
            return [.. losses];
        }
        var fp32 = Run(Precision.Float32);
        var bf16 = Run(Precision.BFloat16);
        Assert.Equal(Steps, fp32.Length);
        Assert.Equal(Steps, bf16.Length);
        var gaps = fp32.Zip(bf16, (a, b) => Math.Abs(b - a) / Math.Abs(a)).ToArray();
        output.WriteLine(FormattableString.Invariant($"{what}: fp32 {fp32[0]:0.0000} -> {fp32[^1]:0.0000}, bf16 {bf16[0]:0.0000} -> {bf16[^1]:0.0000}; relative gap max {gaps.Max():0.0000} (step {Array.IndexOf(gaps, gaps.Max()) + 1}), mean {gaps.Average():0.0000}"));
        output.WriteLine(FormattableString.Invariant($"{what} losses by step (fp32/bf16): {string.Join(" ", fp32.Zip(bf16, (a, b) => $"{a:0.000}/{b:0.000}"))}"));
        Assert.True(gaps.Max() > 0, $"{what}: the bf16 curve equals the fp32 one: autocast did nothing");
        Assert.True(gaps.Max() <= Bound, $"{what}: bf16 loss off fp32's by {gaps.Max():P1} at some step (bound {Bound:P0})");
        Assert.True(bf16.TakeLast(4).Average() < bf16.Take(4).Average(), $"{what}: the bf16 loss did not fall");
    }
}
