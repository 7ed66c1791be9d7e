namespace Tessera.Cli.Infrastructure;

/// <summary>
/// The command-line flag of each library parameter that a <see cref="TesseraUserException"/> can name, per settings
/// class (a base class's entries hold for the classes derived from it), so the library's "K: 4 must be odd" reaches a
/// command-line user as "--k: 4 must be odd".
/// </summary>
internal static class ParameterFlags
{
    private static readonly (Type Settings, string Parameter, string Flag)[] Table =
    [
        (typeof(GlobalSettings), nameof(Runtime.RuntimeOptions.Device), "--device"),
        (typeof(GlobalSettings), nameof(Runtime.RuntimeOptions.Threads), "--threads"),
        (typeof(DataSettings), "dataFolder", "--data"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.Model), "--model"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.K), "--k"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.Depth), "--depth"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.OutputStride), "--output-stride"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.Dilations), "--dilations"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegModelConfig.BaseWidth), "--width"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.Loss), "--loss"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.CropHeight), "--crop"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.ScaleWidth), "--scale"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.MinRatio), "--ratio"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.EvalImages), "--eval-images"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.LoaderThreads), "--loader-threads"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.ValSplit), "--val-split"),
        (typeof(SegTrainSettings), nameof(Segmentation.Training.SegDatasetTrainOptions.BackboneWeights), "--backbone-weights"),
        (typeof(SegDatasetSettings), "Shard", "--shard"),
        (typeof(SegDatasetSettings), "ShardCount", "--shard-count"),
        (typeof(SamImageSettings), "name", "--model"),
        (typeof(SamSegmentSettings), nameof(Segmentation.Sam.SamPrompt.Points), "--point"),
        (typeof(SamSegmentSettings), nameof(Segmentation.Sam.SamPrompt.Box), "--box"),
        (typeof(SamTrainSettings), "canvas", "--canvas"),
        (typeof(SamTrainSettings), "width", "--width"),
        (typeof(SamTrainSettings), "depth", "--depth"),
        (typeof(SamTrainSettings), nameof(Segmentation.Sam.SamDatasetTrainOptions.LoraRank), "--lora-rank"),
        (typeof(SamTrainSettings), nameof(Segmentation.Sam.SamDatasetTrainOptions.EmbeddingCache), "--embedding-cache"),
        (typeof(SamTrainSettings), nameof(Segmentation.Sam.SamDatasetTrainOptions.Train), "--train"),
        (typeof(SamTrainSettings), nameof(Segmentation.Sam.SamDatasetTrainOptions.Rounds), "--rounds"),
        (typeof(SamTrainSettings), nameof(Segmentation.Sam.SamDatasetTrainOptions.Root), "--data-root"),
        (typeof(SamEvalSettings), "clicks", "--clicks"),
        (typeof(SamAutoSettings), "Shard", "--shard"),
        (typeof(SamAutoSettings), "ShardCount", "--shard-count"),
        (typeof(DiffusionTrainSettings), "patchSize", "--patch"),
        (typeof(DiffusionSampleSettings), nameof(Diffusion.DiffusionSamplingOptions.Classes), "--class"),
        (typeof(DiffusionSampleSettings), nameof(Diffusion.DiffusionSamplingOptions.Sampler), "--sampler"),
        (typeof(DiffusionSampleSettings), nameof(Diffusion.DiffusionSamplingOptions.Steps), "--steps"),
        (typeof(DiffusionSampleSettings), nameof(Diffusion.DiffusionSamplingOptions.Batch), "--batch"),
        (typeof(SegEvalSettings), "groundTruthFolder", "--gt"),
        (typeof(SegEvalSettings), "Shard", "--shard"),
        (typeof(SegEvalSettings), "ShardCount", "--shard-count"),
        (typeof(DiffusionSampleSettings), "ShardCount", "--shard-count"),
        (typeof(DiffusionEvalSettings), "ShardCount", "--shard-count"),
        (typeof(DiffusionSampleSettings), "Shard", "--shard"),
        (typeof(DiffusionSampleSettings), "Seeds", "--seeds"),
        (typeof(DiffusionEvalSettings), "Shard", "--shard"),
        (typeof(SegEvalSettings), "predictionFolder", "--pred"),
    ];

    /// <summary>The flag that sets <paramref name="parameter"/> in the command with <paramref name="settings"/>, or null.</summary>
    public static string? Flag(Type? settings, string parameter) =>
        settings is null ? null : Table.FirstOrDefault(e => e.Parameter == parameter && e.Settings.IsAssignableFrom(settings)).Flag;

    /// <summary>The error line for the command line: "FLAG: detail" when the parameter has a flag there, else the library's message.</summary>
    public static string Message(TesseraUserException e, Type? settings) =>
        e.Parameter is string p && Flag(settings, p) is string flag ? $"{flag}: {e.Detail}" : e.Message;
}
