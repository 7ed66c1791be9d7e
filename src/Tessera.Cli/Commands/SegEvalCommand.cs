using Tessera.Segmentation.Metrics;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera seg eval</c>.</summary>
internal sealed class SegEvalSettings : GlobalSettings, IShardSettings
{
    [CommandOption("--gt <DIR>"), Description("Folder of ground-truth label PNGs (8-bit gray or palette).")] public string? GroundTruth { get; init; }
    [CommandOption("--pred <DIR>"), Description("Folder of predicted label PNGs, with the same file names; or the --output folder of seg predict (its labels/ are read).")] public string? Prediction { get; init; }
    [CommandOption("--num-classes <N>"), Description("Number of classes; labels 0 … N-1.")] public int NumClasses { get; init; }
    [CommandOption("--ignore-index <I>"), Description("Ground-truth value that is not counted. Default 255.")] public int IgnoreIndex { get; init; } = 255;
    [CommandOption("--class-names <FILE>"), Description("Text file with one class name per line (N lines).")] public string? ClassNames { get; init; }
    [CommandOption("--reduce-zero-label"), Description("Ground truth 0 is ignored and v becomes v-1 (mmsegmentation's reduce_zero_label).")] public bool ReduceZeroLabel { get; init; }
    [CommandOption("--zero-division <V>"), Description("Use V for 0/0 ratios and keep every class in the means (torchmetrics style). Default: NaN, left out (mmsegmentation).")] public double? ZeroDivision { get; init; }
    [CommandOption("--beta <B>"), Description("β of the F-score. Default 1.")] public double Beta { get; init; } = 1;
    [CommandOption("--json <FILE>"), Description("Write the results as JSON.")] public string? Json { get; init; }
    [CommandOption("--confusion-png <FILE>"), Description("Write the row-normalised confusion matrix as a PNG.")] public string? ConfusionPng { get; init; }
    [CommandOption("--on-missing <MODE>"), Description("error (default) or skip: what to do with a file that has no partner.")] public string OnMissing { get; init; } = "error";

    [CommandOption("--shard <I/N>"), Description("Evaluate only shard I of N (pairs sorted by name, dealt round-robin); write its --json report and merge the reports with --merge. Default: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID when set.")] public string? Shard { get; init; }
    [CommandOption("--shard-count <N>"), Description("Number of shards, for a Kubernetes Indexed Job (its completions; Slurm's count is read from SLURM_ARRAY_TASK_COUNT).")] public int? ShardCount { get; init; }
    [CommandOption("--merge <REPORT>"), Description("Merge the --json reports of shards (repeat, or list several after one --merge): adds their confusion matrices and prints the metrics of the whole set.")] public string[] Merge { get; init; } = [];

    /// <summary>The names in --class-names (one per non-empty line), or null without it.</summary>
    public string[]? ReadClassNames()
    {
        if (ClassNames is null) return null;
        if (!File.Exists(ClassNames)) throw new TesseraUserException($"--class-names: file '{ClassNames}' does not exist");
        return File.ReadAllLines(ClassNames).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
    }

    public override ValidationResult Validate()
    {
        if (Merge.Length > 0)
        {
            if (GroundTruth is not null || Prediction is not null || Shard is not null) return ValidationResult.Error("--merge: takes reports, not --gt/--pred/--shard");
            if (Beta <= 0) return ValidationResult.Error($"--beta: {Beta}; expected a positive number");
            return base.Validate();
        }
        if (string.IsNullOrEmpty(GroundTruth)) return ValidationResult.Error("--gt: required (folder of ground-truth PNGs)");
        if (string.IsNullOrEmpty(Prediction)) return ValidationResult.Error("--pred: required (folder of predicted PNGs)");
        if (NumClasses is < 1 or > 256) return ValidationResult.Error($"--num-classes: {NumClasses}; expected 1 to 256 for 8-bit label maps");
        if (IgnoreIndex is < 0 or > 255) return ValidationResult.Error($"--ignore-index: {IgnoreIndex}; expected 0 to 255");
        if (OptionChoices.Check<OptionChoices.OnMissing>("--on-missing", OnMissing, "choice") is { Successful: false } bad) return bad;
        if (!(Beta > 0) || double.IsInfinity(Beta)) return ValidationResult.Error($"--beta: {Beta}; expected a positive number");
        return base.Validate();
    }
}

/// <summary><c>tessera seg eval</c>: PA, MPA, MIoU, FWIoU, Dice and F-score over folders of label maps.</summary>
internal sealed class SegEvalCommand : TesseraCommand<SegEvalSettings>
{
    public override int Execute(CommandContext context, SegEvalSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        if (settings.Merge.Length > 0) return ExecuteMerge(settings);
        string[]? names = settings.ReadClassNames();
        if (names is not null && names.Length != settings.NumClasses)
            throw new TesseraFormatException(settings.ClassNames!, $"{names.Length} class names for --num-classes {settings.NumClasses}");
        bool skip = EnumNames.Parse<OptionChoices.OnMissing>("onMissing", settings.OnMissing) == OptionChoices.OnMissing.Skip;
        Pairing pairing = FolderEvaluation.Pair(settings.GroundTruth!, settings.Prediction!, skip);
        var shard = Shard.Resolve(settings.Shard, settings.ShardCount);
        if (shard.IsSharded)
        {
            Ui.Result($"{shard.Describe()}: the metrics below are of this shard's images; merge the shards' --json reports with --merge");
            pairing = pairing with { Pairs = shard.Select(pairing.Pairs).ToList() };
        }
        var options = new ConfusionOptions(settings.NumClasses, settings.IgnoreIndex, settings.ReduceZeroLabel);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        ConfusionMatrix cm = Ui.WithProgress("evaluating", pairing.Pairs.Count, "img",
            report => FolderEvaluation.Evaluate(pairing.Pairs, options, Ui.Counter(report), cancellation));
        double seconds = watch.Elapsed.TotalSeconds;
        var metrics = SegmentationMetrics.Compute(cm, names, settings.Beta, settings.ZeroDivision);
        PrintMetrics(Ui, metrics, pairing.Pairs.Count);
        int skipped = pairing.MissingPredictions.Count + pairing.MissingGroundTruth.Count;
        if (skipped > 0)
            Ui.Result($"skipped {pairing.MissingPredictions.Count} ground-truth file(s) without prediction and {pairing.MissingGroundTruth.Count} prediction(s) without ground truth");
        Ui.Say($"{pairing.Pairs.Count / Math.Max(seconds, 1e-9):0.0} images/s, {cm.Total / Math.Max(seconds, 1e-9) / 1e6:0.0} Mpixel/s (PNG decoding included)");
        WriteOutputs(settings, metrics, cm, pairing.Pairs.Count, shard.IsSharded ? shard.ToString() : null);
        return Program.Ok;
    }

    private int ExecuteMerge(SegEvalSettings settings)
    {
        var (cm, images, names) = FolderEvaluation.MergeReports(settings.Merge);
        names = settings.ReadClassNames() ?? names;
        if (names is not null && names.Length != cm.NumClasses) names = null;
        var metrics = SegmentationMetrics.Compute(cm, names, settings.Beta, settings.ZeroDivision);
        Ui.Say($"merged {settings.Merge.Length} report(s)");
        PrintMetrics(Ui, metrics, images);
        WriteOutputs(settings, metrics, cm, images, null);
        return Program.Ok;
    }

    /// <summary>The metric table and summary line (also <c>seg test</c>'s).</summary>
    internal static void PrintMetrics(Ui ui, SegmentationMetrics metrics, int images)
    {
        static string Pct(double v) => double.IsNaN(v) ? "nan" : (100 * v).ToString("0.00", CultureInfo.InvariantCulture);
        var table = new Table().AddColumn("class");
        foreach (string h in new[] { "IoU", "Acc", "Dice", "Precision", "Recall", "Fscore" }) table.AddColumn(new TableColumn(h).RightAligned());
        foreach (ClassScores c in metrics.PerClass)
            table.AddRow(Markup.Escape(c.Name), Pct(c.IoU), Pct(c.Acc), Pct(c.Dice), Pct(c.Precision), Pct(c.Recall), Pct(c.Fscore));
        ui.Console.Write(table);
        ui.Result($"aAcc {Pct(metrics.AAcc)}  mIoU {Pct(metrics.MIoU)}  mAcc {Pct(metrics.MAcc)}  mDice {Pct(metrics.MDice)}  mFscore {Pct(metrics.MFscore)}  FWIoU {Pct(metrics.FWIoU)}  (%, {images} images)");
    }

    private void WriteOutputs(SegEvalSettings settings, SegmentationMetrics metrics, ConfusionMatrix cm, int images, string? shard)
    {
        if (settings.Json is not null)
        {
            AtomicFile.WriteAllText(settings.Json, FolderEvaluation.ToJson(metrics, cm, images, shard));
            Ui.Result($"wrote {Path.GetFullPath(settings.Json)}");
        }
        if (settings.ConfusionPng is not null)
        {
            AtomicFile.WriteAllBytes(settings.ConfusionPng, FolderEvaluation.ConfusionPng(cm));
            Ui.Result($"wrote {Path.GetFullPath(settings.ConfusionPng)}");
        }
    }
}
