using Tessera.Diffusion.Training;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Training;

namespace Tessera.Tests;

/// <summary>
/// The three real trainers at tiny sizes, for tests of the engine's shared behaviours through each of them
/// (<see cref="TrainerLifecycleTests"/>, <see cref="MixedPrecisionTrainingTests"/>): kind "diffusion" (a tiny U-Net on
/// 8 Fashion-MNIST images), "seg" (a GCN-Net, K 3, width 16, 2 evaluation scenes) or "sam" (<see cref="Sam"/>, 2
/// rounds, 1 evaluation scene).
/// </summary>
internal static class TinyTrainers
{
    /// <summary>The kinds <see cref="Train"/> builds, for theories over them.</summary>
    public static TheoryData<string> Kinds => new() { "diffusion", "seg", "sam" };

    /// <summary>A SAM small enough to train a few steps in a test.</summary>
    public static readonly SamConfig Sam = SamTrainOptions.SmallConfig with
    {
        EncoderDim = 64,
        EncoderHeads = 2,
        EncoderDepth = 2,
        GlobalAttentionBlocks = [1],
        PromptDim = 64,
        DecoderHeads = 2,
        DecoderMlpDim = 128,
        IouHeadHiddenDim = 64,
    };

    /// <summary>
    /// Trains the tiny trainer of <paramref name="kind"/> with <paramref name="o"/> into <paramref name="dir"/>
    /// (the diffusion one without previews) and returns its <c>Train</c>'s result.
    /// </summary>
    public static object? Train(string kind, TrainingOptions o, string dir, bool resume, IProgress<TrainingProgress>? progress) => kind switch
    {
        "diffusion" => new DiffusionTrainer(new DiffusionTrainOptions
        {
            Model = new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet()),
            Training = o with { SampleEvery = 0, PreviewAtEnd = false },
            Limit = 8,
        }).Train(dir, resume, progress),
        "seg" => new SegTrainer(new SegTrainOptions
        {
            Model = new SegModelConfig { Model = SegModelKind.Gcn, K = 3, BaseWidth = 16 },
            Training = o,
            EvalScenes = 2,
        }).Train(dir, resume, progress),
        "sam" => new SamTrainer(new SamTrainOptions
        {
            Config = Sam,
            Training = o,
            Rounds = 2,
            EvalScenes = 1,
        }).Train(dir, resume, progress),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "diffusion, seg or sam"),
    };
}
