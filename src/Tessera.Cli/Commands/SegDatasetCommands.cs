using Tessera.Segmentation.Data;
using Tessera.Segmentation.Metrics;

namespace Tessera.Cli.Commands;

/// <summary>
/// The options that name a dataset split and how its images are run, shared by <c>seg train --dataset</c> and
/// <c>seg test</c> / <c>seg predict</c>: each option's name and help declared once here, and the one parsing of their
/// values into the library's (<see cref="DatasetLayout"/>, <see cref="DatasetOptions"/>, <see cref="InferenceOptions"/>).
/// </summary>
internal static class SegDatasetOptions
{
    public const string Dataset = "--dataset <NAME>";
    public const string DataRoot = "--data-root <DIR>";
    public const string DataRootHelp = "The dataset's root folder (VOCdevkit's parent, leftImg8bit's parent, ADEChallengeData2016's parent, or img_dir's parent).";
    public const string ImgSuffix = "--img-suffix <SUFFIX>";
    public const string ImgSuffixHelp = "custom layout: how image names end. Default .jpg";
    public const string SegSuffix = "--seg-suffix <SUFFIX>";
    public const string SegSuffixHelp = "custom layout: how label names end. Default .png";
    public const string Mode = "--mode <MODE>";
    public const string Crop = "--crop <SIZE>";
    public const string Stride = "--stride <SIZE>";
    public const string StrideHelp = "Slide step: SIZE or H,W. Default 341.";

    /// <summary>Whether <paramref name="name"/> is a dataset layout or auto (detected).</summary>
    public static bool IsLayoutOrAuto(string name) => name == "auto" || EnumNames.TryParse<DatasetLayout>(name, out _);

    /// <summary>The layout named by --dataset; null for auto (detected from the folder).</summary>
    public static DatasetLayout? Layout(string? name) => name is null or "auto" ? null : EnumNames.Parse<DatasetLayout>("Layout", name, "dataset layout");

    /// <summary>The options the layouts read (the custom layout's suffixes).</summary>
    public static DatasetOptions Files(string imgSuffix, string segSuffix) => new(Custom: new CustomLayoutOptions(ImageSuffix: imgSuffix, LabelSuffix: segSuffix));

    /// <summary>
    /// Inference settings: <paramref name="basis"/> with the options given (a null text keeps the basis's value).
    /// </summary>
    /// <exception cref="TesseraUserException">A malformed value, naming its flag.</exception>
    public static InferenceOptions Inference(InferenceOptions basis, string? mode, string? crop, string? stride, string? scales, bool flip)
    {
        var c = crop is null ? (basis.CropHeight, basis.CropWidth) : Size("--crop", crop);
        var s = stride is null ? (basis.StrideHeight, basis.StrideWidth) : Size("--stride", stride);
        double[]? sc = scales is null ? null : ListOption.Numbers("--scales", scales, 1, 16, "positive scales");
        if (sc is not null && sc.Any(v => v <= 0)) throw new TesseraUserException($"--scales '{scales}': expected positive scales");
        var m = mode is null ? basis.Mode : EnumNames.Parse<InferenceMode>(nameof(InferenceOptions.Mode), mode, "inference mode");
        return new InferenceOptions(m, c.Item1, c.Item2, s.Item1, s.Item2, sc ?? basis.Scales, flip || basis.Flip);
    }

    /// <summary>"N" (square) or "H,W".</summary>
    public static (int H, int W) Size(string flag, string text)
    {
        var v = ListOption.Ints(flag, text);
        return v.Length switch
        {
            1 => (v[0], v[0]),
            2 => (v[0], v[1]),
            _ => throw new TesseraUserException($"{flag} '{text}': expected SIZE or H,W"),
        };
    }
}

/// <summary>The dataset and inference options of <c>seg test</c> and <c>seg predict</c>.</summary>
public class SegDatasetSettings : GlobalSettings, IShardSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("A checkpoint.safetensors written by tessera seg train.")] public string? Checkpoint { get; init; }
    [CommandOption(SegDatasetOptions.Dataset), Description("custom, voc, cityscapes or ade20k (auto: detected from --data-root).")] public string? Dataset { get; init; }
    [CommandOption(SegDatasetOptions.DataRoot), Description(SegDatasetOptions.DataRootHelp)] public string? DataRoot { get; init; }
    [CommandOption("--split <SPLIT>"), Description("The split (train, val, …; ADE20K's training/validation also accepted as train/val). Default val.")] public string Split { get; init; } = "val";
    [CommandOption(SegDatasetOptions.ImgSuffix), Description(SegDatasetOptions.ImgSuffixHelp)] public string ImgSuffix { get; init; } = ".jpg";
    [CommandOption(SegDatasetOptions.SegSuffix), Description(SegDatasetOptions.SegSuffixHelp)] public string SegSuffix { get; init; } = ".png";
    [CommandOption("--shard <I/N>"), Description("Only shard I of N (items sorted by name, dealt round-robin). Default: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID when set.")] public string? Shard { get; init; }
    [CommandOption("--shard-count <N>"), Description("Number of shards, for a Kubernetes Indexed Job (its completions; Slurm's count is read from SLURM_ARRAY_TASK_COUNT).")] public int? ShardCount { get; init; }
    // Inference (whole or slide, multi-scale and flip); what is not given is as the checkpoint's training validated.
    [CommandOption(SegDatasetOptions.Mode), Description("whole (the image in one pass) or slide (overlapping --crop windows every --stride, logits averaged). Default: as the checkpoint's training validated (whole for Fashion-MNIST scenes).")] public string? Mode { get; init; }
    [CommandOption(SegDatasetOptions.Crop), Description("Slide window: SIZE or H,W. Default: the checkpoint's (512).")] public string? Crop { get; init; }
    [CommandOption(SegDatasetOptions.Stride), Description("Slide step: SIZE or H,W. Default: the checkpoint's (341).")] public string? Stride { get; init; }
    [CommandOption("--scales <LIST>"), Description("Test-time scales, e.g. 0.5,0.75,1.0,1.25,1.5,1.75 (probabilities averaged at the original resolution). Default 1.")] public string? Scales { get; init; }
    [CommandOption("--flip"), Description("Also run each scale mirrored (flip test-time augmentation).")] public bool Flip { get; init; }
    [CommandOption("--precision <P>"), Description("fp32 (default) or bf16: the network's number format (bf16 is fast on CPUs with avx512_bf16/AMX; logits leave the network in fp32); fp16 on GPUs.")] public string PrecisionName { get; init; } = "fp32";

    /// <summary>This process's shard (from the options or a scheduler's variables), described on <paramref name="ui"/> when there is one.</summary>
    public Runtime.Sharding.Shard ResolveShard(Ui ui)
    {
        var shard = Runtime.Sharding.Shard.Resolve(Shard, ShardCount);
        if (shard.Source != ShardSource.None) ui.Result(shard.Describe());
        return shard;
    }

    /// <summary>The inference settings of <paramref name="model"/>: as its training validated, with the options given.</summary>
    public InferenceOptions Inference(SegmentationModel model) => SegDatasetOptions.Inference(model.Inference, Mode, Crop, Stride, Scales, Flip);

    /// <summary>The split named by the options.</summary>
    public SegmentationDataset OpenDataset() =>
        SegmentationDatasets.Open(SegDatasetOptions.Layout(Dataset), DataRoot!, Split, SegDatasetOptions.Files(ImgSuffix, SegSuffix));

    /// <summary>Loads --checkpoint onto <paramref name="device"/>, checking its classes against <paramref name="dataset"/>'s.</summary>
    public SegmentationModel LoadModel(torch.Device device, SegmentationDataset? dataset)
    {
        var model = SegmentationModel.Load(Checkpoint!, device, EnumNames.Parse<Tessera.Runtime.Precision>("--precision", PrecisionName, "precision"));
        if (dataset is not null && model.Config.Classes != dataset.NumClasses)
        {
            model.Dispose();
            throw new TesseraUserException($"--checkpoint: {Checkpoint} predicts {model.Config.Classes} classes but the {EnumNames.Name(dataset.Layout)} dataset has {dataset.NumClasses}");
        }
        return model;
    }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (Dataset is not null && !SegDatasetOptions.IsLayoutOrAuto(Dataset))
            return ValidationResult.Error($"--dataset: '{Dataset}'; expected {string.Join(", ", SegmentationDatasets.Layouts)} or auto");
        if (OptionChoices.Check<Tessera.Runtime.Precision>("--precision", PrecisionName, "precision") is { Successful: false } bad) return bad;
        try { SegDatasetOptions.Inference(new InferenceOptions(), Mode, Crop, Stride, Scales, Flip); }
        catch (TesseraUserException e) { return ValidationResult.Error(ParameterFlags.Message(e, GetType())); }
        return base.Validate();
    }
}

/// <summary>Options of <c>tessera seg test</c>.</summary>
internal sealed class SegTestSettings : SegDatasetSettings
{
    [CommandOption("--json <FILE>"), Description("Write the results as JSON (seg eval's report; shard reports merge with seg eval --merge).")] public string? Json { get; init; }
    [CommandOption("--limit <N>"), Description("Score only the first N images of the split (sorted by name).")] public int? Limit { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(DataRoot)) return ValidationResult.Error("--data-root: required");
        if (Limit is < 1) return ValidationResult.Error($"--limit: {Limit}; expected at least 1");
        return base.Validate();
    }
}

/// <summary><c>tessera seg test</c>: a checkpoint scored on a dataset split, with seg eval's table and report.</summary>
internal sealed class SegTestCommand : TesseraCommand<SegTestSettings>
{
    public override int Execute(CommandContext context, SegTestSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var shard = settings.ResolveShard(Ui);
        var dataset = settings.OpenDataset();
        using var model = settings.LoadModel(device, dataset);
        var order = BatchPrediction.SortedIndices(dataset);
        if (settings.Limit is int limit) order = order.Take(limit).ToList();
        var mine = shard.Select(order).ToList();
        var options = settings.Inference(model);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var cm = Ui.WithProgress("testing", mine.Count, "img", report =>
            DatasetEvaluation.Evaluate(model.Network, dataset, mine, options, model.Config.ImageNetInput, device, Ui.Counter(report), cancellation));
        var metrics = SegmentationMetrics.Compute(cm, dataset.ClassNames);
        if (shard.IsSharded) Ui.Result($"shard {shard}: the metrics below are of this shard's {mine.Count} images; merge the shards' --json reports with seg eval --merge");
        SegEvalCommand.PrintMetrics(Ui, metrics, mine.Count);
        Ui.Say($"{mine.Count / Math.Max(watch.Elapsed.TotalSeconds, 1e-9):0.00} images/s");
        if (settings.Json is not null)
        {
            AtomicFile.WriteAllText(settings.Json, FolderEvaluation.ToJson(metrics, cm, mine.Count, shard.IsSharded ? shard.ToString() : null));
            Ui.Result($"wrote {Path.GetFullPath(settings.Json)}");
        }
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera seg convert cityscapes</c>.</summary>
internal sealed class SegConvertCityscapesSettings : GlobalSettings
{
    [CommandOption("--data-root <DIR>"), Description("The Cityscapes root (with gtFine/).")] public string? DataRoot { get; init; }
    [CommandOption("--keep"), Description("Leave existing *_labelTrainIds.png files as they are.")] public bool Keep { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrEmpty(DataRoot) ? ValidationResult.Error("--data-root: required") : base.Validate();
}

/// <summary><c>tessera seg convert cityscapes</c>: *_labelTrainIds.png beside every *_labelIds.png (cityscapesScripts' createTrainIdLabelImgs).</summary>
internal sealed class SegConvertCityscapesCommand : TesseraCommand<SegConvertCityscapesSettings>
{
    public override int Execute(CommandContext context, SegConvertCityscapesSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        string gt = Path.Combine(settings.DataRoot!, "gtFine");
        if (!Directory.Exists(gt)) throw new TesseraUserException($"--data-root: {gt} does not exist (expected the Cityscapes root with gtFine/)");
        int total = Directory.EnumerateFiles(gt, "*_labelIds.png", SearchOption.AllDirectories).Count();
        if (total == 0) throw new TesseraUserException($"--data-root: no *_labelIds.png under {gt}");
        int written = Ui.WithProgress("converting", total, "files", report =>
            CityscapesLabels.ConvertFolder(gt, overwrite: !settings.Keep, progress: Ui.Counter(report), cancellation: cancellation));
        Ui.Result($"wrote {written} *_labelTrainIds.png file(s) under {Path.GetFullPath(gt)} (19 classes, the rest 255)");
        return Program.Ok;
    }
}
