using Tessera.Diffusion;
using Tessera.Diffusion.Sampling;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Models;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Training;

namespace Tessera.Cli.Infrastructure;

/// <summary>
/// The command-line flag of each library parameter that a <see cref="TesseraUserException"/> can name, per settings
/// class (a base class's entries hold for the classes derived from it), so the library's "K: 4 must be odd" reaches a
/// command-line user as "--k: 4 must be odd".
/// </summary>
internal static class ParameterFlags
{
    private static readonly (Type Settings, (string Parameter, string Flag)[] Flags)[] Groups =
    [
        (typeof(GlobalSettings), [(nameof(RuntimeOptions.Device), "--device"), (nameof(RuntimeOptions.Threads), "--threads")]),
        (typeof(DataSettings), [("dataFolder", "--data")]),
        (typeof(IShardSettings), [("Shard", "--shard"), ("ShardCount", "--shard-count")]),
        (typeof(TrainingSettings), [(nameof(TrainingOptions.Steps), "--steps"), (nameof(TrainingOptions.Batch), "--batch"), (nameof(TrainingOptions.LearningRate), "--lr"),
            (nameof(TrainingOptions.Optimizer), "--optimizer"), (nameof(TrainingOptions.Schedule), "--schedule"), (nameof(TrainingOptions.WeightDecay), "--weight-decay"),
            (nameof(TrainingOptions.GradClip), "--clip"), (nameof(TrainingOptions.WarmupSteps), "--warmup"), (nameof(TrainingOptions.EvalEvery), "--eval-every"),
            (nameof(TrainingOptions.CheckpointEvery), "--checkpoint-every"), (nameof(TrainingOptions.StopAt), "--stop-at"), (nameof(TrainingOptions.Accumulate), "--accumulate"),
            (nameof(TrainingOptions.SampleEvery), "--sample-every"), (nameof(TrainingOptions.SyncBatchNorm), "--sync-bn"),
            (nameof(TrainingOptions.Precision), "--precision")]),
        (typeof(SegTrainSettings), [(nameof(SegModelConfig.Model), "--model"), (nameof(SegModelConfig.K), "--k"), (nameof(SegModelConfig.Depth), "--depth"),
            (nameof(SegModelConfig.OutputStride), "--output-stride"), (nameof(SegModelConfig.Dilations), "--dilations"), (nameof(SegModelConfig.BaseWidth), "--width"),
            (nameof(SegDatasetTrainOptions.Loss), "--loss"), (nameof(SegDatasetTrainOptions.CropHeight), "--crop"), (nameof(SegDatasetTrainOptions.ScaleWidth), "--scale"),
            (nameof(SegDatasetTrainOptions.MinRatio), "--ratio"), (nameof(SegDatasetTrainOptions.EvalImages), "--eval-images"), (nameof(SegDatasetTrainOptions.LoaderThreads), "--loader-threads"),
            (nameof(SegDatasetTrainOptions.ValSplit), "--val-split"), (nameof(SegDatasetTrainOptions.BackboneWeights), "--backbone-weights"),
            (nameof(SegDatasetTrainOptions.Pretrained), "--pretrained"), (nameof(SegDatasetTrainOptions.Layout), "--dataset"), (nameof(InferenceOptions.Mode), "--mode"),
            (nameof(SegTrainOptions.EvalScenes), "--eval-scenes")]),
        (typeof(SegDatasetSettings), [(nameof(SegDatasetTrainOptions.Layout), "--dataset"), (nameof(InferenceOptions.Mode), "--mode"), ("precision", "--precision")]),
        (typeof(SamImageSettings), [("name", "--model")]),
        (typeof(SamSegmentSettings), [(nameof(SamPrompt.Points), "--point"), (nameof(SamPrompt.Box), "--box")]),
        (typeof(SamAutoSettings), [("input", "--input"), ("format", "--output-mode")]),
        (typeof(SamTrainSettings), [("canvas", "--canvas"), ("width", "--width"), ("depth", "--depth"), (nameof(SamDatasetTrainOptions.LoraRank), "--lora-rank"),
            (nameof(SamDatasetTrainOptions.EmbeddingCache), "--embedding-cache"), (nameof(SamDatasetTrainOptions.Train), "--train"),
            (nameof(SamDatasetTrainOptions.Rounds), "--rounds"), (nameof(SamDatasetTrainOptions.Root), "--data-root"),
            (nameof(SamDatasetTrainOptions.CachePrecision), "--cache-dtype"), ("dataset", "--dataset")]),
        (typeof(SamEvalSettings), [("clicks", "--clicks"), ("dataset", "--dataset")]),
        (typeof(DiffusionTrainSettings), [("patchSize", "--patch")]),
        (typeof(DiffusionSampleSettings), [(nameof(DiffusionSamplingOptions.Classes), "--class"), (nameof(DiffusionSamplingOptions.Sampler), "--sampler"),
            (nameof(DiffusionSamplingOptions.Steps), "--steps"), (nameof(DiffusionSamplingOptions.Batch), "--batch"), ("Seeds", "--seeds"), (nameof(DiffusionSamplingOptions.Precision), "--precision")]),
        (typeof(DiffusionEvalSettings), [("folder", "--samples")]),
        (typeof(SegEvalSettings), [("groundTruthFolder", "--gt"), ("predictionFolder", "--pred")]),
        (typeof(SegPredictSettings), [("inputFolder", "--input"), ("outputFolder", "--output")]),
    ];

    private static readonly (Type Settings, string Parameter, string Flag)[] Table =
        [.. Groups.SelectMany(g => g.Flags.Select(f => (g.Settings, f.Parameter, f.Flag)))];

    /// <summary>The flag that sets <paramref name="parameter"/> in the command with <paramref name="settings"/>, or null.</summary>
    public static string? Flag(Type? settings, string parameter) =>
        settings is null ? null : Table.FirstOrDefault(e => e.Parameter == parameter && e.Settings.IsAssignableFrom(settings)).Flag;

    /// <summary>The error line for the command line: "FLAG: detail" when the parameter has a flag there, else the library's message.</summary>
    public static string Message(TesseraUserException e, Type? settings) =>
        e.Parameter is string p && Flag(settings, p) is string flag ? $"{flag}: {e.Detail}" : e.Message;
}
