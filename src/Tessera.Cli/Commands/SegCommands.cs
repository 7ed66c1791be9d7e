using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using Tessera.Cli.Infrastructure;
using Tessera.Data;
using Tessera.IO;
using Tessera.Runtime.Sharding;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Training;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Cli.Commands;

/// <summary>Options shared by the scene-making commands.</summary>
public class SceneSettings : DataSettings
{
    /// <summary>--canvas</summary>
    [CommandOption("--canvas <PX>")]
    [Description("Side of the scene canvas. Default 64.")]
    public int Canvas { get; init; } = 64;

    /// <summary>--ignore-band</summary>
    [CommandOption("--ignore-band")]
    [Description("Mark a 1-pixel band on label boundaries as 255 (ignored).")]
    public bool IgnoreBand { get; init; }

    /// <summary>The scene options.</summary>
    public SceneOptions SceneOptions() => new(Canvas, IgnoreBand: IgnoreBand, Seed: (ulong)Seed);

    /// <inheritdoc />
    public override ValidationResult Validate() =>
        Canvas < 40 ? ValidationResult.Error($"--canvas: {Canvas}; expected at least 40 (items are up to 45 px)") : base.Validate();
}

/// <summary>Options of <c>tessera seg make-dataset</c>.</summary>
internal sealed class MakeDatasetSettings : SceneSettings
{
    [CommandOption("-o|--out <DIR>"), Description("Folder to create with images/, labels/ and instances/.")] public string Out { get; init; } = "scenes";
    [CommandOption("--count <N>"), Description("Scenes to write. Default 200.")] public int Count { get; init; } = 200;
    [CommandOption("--split <SPLIT>"), Description("train (items from Fashion-MNIST's training images) or val (its test images). Default val.")] public string SplitName { get; init; } = "val";

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (Count < 1) return ValidationResult.Error($"--count: {Count}; expected at least 1");
        if (SplitName is not ("train" or "val")) return ValidationResult.Error($"--split: '{SplitName}'; expected train or val");
        return base.Validate();
    }
}

/// <summary><c>tessera seg make-dataset</c>: Fashion-MNIST scenes as folders of PNGs.</summary>
internal sealed class MakeDatasetCommand : TesseraCommand<MakeDatasetSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, MakeDatasetSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        using var source = FashionMnist.Load(settings.SplitName == "train" ? Split.Train : Split.Test, settings.Data);
        var scenes = new FashionMnistScenes(source, settings.SceneOptions());
        foreach (string sub in new[] { "images", "labels", "instances" }) Directory.CreateDirectory(Path.Combine(settings.Out, sub));
        Ui.WithProgress("writing scenes", settings.Count, "scenes", report =>
        {
            for (int first = 0; first < settings.Count; first += 32)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                int n = Math.Min(32, settings.Count - first);
                using var batch = scenes.Generate(first, n);
                for (int i = 0; i < n; i++)
                {
                    string name = (first + i).ToString("00000", CultureInfo.InvariantCulture) + ".png";
                    ImageIO.SavePng(batch.Images[i], Path.Combine(settings.Out, "images", name));
                    ImageIO.SavePng(batch.Labels[i].to(torch.ScalarType.Byte).unsqueeze(0), Path.Combine(settings.Out, "labels", name));
                    ImageIO.SavePng(batch.Instances[i].unsqueeze(0), Path.Combine(settings.Out, "instances", name));
                }
                report(first + n, null);
            }
            return 0;
        });
        File.WriteAllLines(Path.Combine(settings.Out, "classes.txt"), FashionMnistScenes.ClassNames);
        Ui.Result($"wrote {settings.Count} scenes to {Path.GetFullPath(settings.Out)} (images/, labels/, instances/, classes.txt; 11 classes, 255 = ignore)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera seg train</c>.</summary>
public sealed class SegTrainSettings : TrainingSettings
{
    /// <inheritdoc />
    protected override TrainingOptions Defaults => OnDataset ? SegDatasetTrainOptions.DefaultTraining : SegTrainOptions.DefaultTraining with { Steps = 1000 };

    /// <summary>Whether the run trains on a dataset split (not on Fashion-MNIST scenes).</summary>
    public bool OnDataset => Dataset is not (null or "scenes");

    /// <summary>--dataset</summary>
    [CommandOption("--dataset <NAME>")]
    [Description("scenes (Fashion-MNIST scenes, the default), custom, voc, cityscapes, ade20k, or auto (detected from --data-root). A dataset trains with SGD (momentum 0.9), lr 0.01, weight decay 0.0005 and the poly schedule unless given.")]
    public string? Dataset { get; init; }

    /// <summary>--data-root</summary>
    [CommandOption("--data-root <DIR>")]
    [Description("The dataset's root folder (with --dataset).")]
    public string? DataRoot { get; init; }

    /// <summary>--split</summary>
    [CommandOption("--split <SPLIT>")]
    [Description("Training split. Default train.")]
    public string SplitName { get; init; } = "train";

    /// <summary>--val-split</summary>
    [CommandOption("--val-split <SPLIT>")]
    [Description("Validation split. Default val.")]
    public string ValSplit { get; init; } = "val";

    /// <summary>--img-suffix</summary>
    [CommandOption("--img-suffix <SUFFIX>")]
    [Description("custom layout: how image names end. Default .jpg")]
    public string ImgSuffix { get; init; } = ".jpg";

    /// <summary>--seg-suffix</summary>
    [CommandOption("--seg-suffix <SUFFIX>")]
    [Description("custom layout: how label names end. Default .png")]
    public string SegSuffix { get; init; } = ".png";

    /// <summary>--crop</summary>
    [CommandOption("--crop <SIZE>")]
    [Description("Training crop (RandomCrop, Pad), SIZE or H,W; also the window of --mode slide. Default 512.")]
    public string Crop { get; init; } = "512";

    /// <summary>--scale</summary>
    [CommandOption("--scale <W,H>")]
    [Description("RandomResize's base scale. Default 2048,512.")]
    public string Scale { get; init; } = "2048,512";

    /// <summary>--ratio</summary>
    [CommandOption("--ratio <MIN,MAX>")]
    [Description("RandomResize's ratio range. Default 0.5,2.0.")]
    public string Ratio { get; init; } = "0.5,2.0";

    /// <summary>--mode</summary>
    [CommandOption("--mode <MODE>")]
    [Description("Validation inference: whole or slide (--crop windows every --stride). Default whole.")]
    public string Mode { get; init; } = "whole";

    /// <summary>--stride</summary>
    [CommandOption("--stride <SIZE>")]
    [Description("Slide step: SIZE or H,W. Default 341.")]
    public string Stride { get; init; } = "341";

    /// <summary>--eval-images</summary>
    [CommandOption("--eval-images <N>")]
    [Description("Validate on the first N images of the validation split. Default: all.")]
    public int? EvalImages { get; init; }

    /// <summary>--loader-threads</summary>
    [CommandOption("--loader-threads <N>")]
    [Description("Threads decoding and augmenting training images. Default 2.")]
    public int LoaderThreads { get; init; } = 2;

    /// <summary>The options of a dataset run.</summary>
    public SegDatasetTrainOptions DatasetOptions()
    {
        var o = Options();
        var crop = SegDatasetSettings.Size("--crop", Crop);
        var scale = ListOption.Ints("--scale", Scale);
        if (scale.Length != 2) throw new TesseraUserException($"--scale '{Scale}': expected W,H");
        var ratio = ListOption.Numbers("--ratio", Ratio, 2, 2, "min,max");
        return new SegDatasetTrainOptions
        {
            Model = o.Model,
            Training = o.Training,
            Loss = Loss,
            Layout = Dataset == "auto" ? null : Dataset,
            Root = DataRoot!,
            Split = SplitName,
            ValSplit = ValSplit,
            Dataset = new DatasetOptions(Custom: new CustomLayoutOptions(ImageSuffix: ImgSuffix, LabelSuffix: SegSuffix)),
            ScaleWidth = scale[0],
            ScaleHeight = scale[1],
            MinRatio = ratio[0],
            MaxRatio = ratio[1],
            CropHeight = crop.H,
            CropWidth = crop.W,
            Inference = SegDatasetSettings.InferenceFrom(Mode, Crop, Stride, null, false),
            LoaderThreads = LoaderThreads,
            EvalImages = EvalImages,
            BackboneWeights = BackboneWeights,
        };
    }

    /// <inheritdoc />
    protected override string DefaultOut => Path.Combine("runs", "seg");

    /// <summary>--canvas</summary>
    [CommandOption("--canvas <PX>")]
    [Description("Side of the scene canvas. Default 64.")]
    public int Canvas { get; init; } = 64;

    /// <summary>--ignore-band</summary>
    [CommandOption("--ignore-band")]
    [Description("Mark a 1-pixel band on label boundaries as 255 (ignored).")]
    public bool IgnoreBand { get; init; }

    /// <summary>--model</summary>
    [CommandOption("--model <NAME>")]
    [Description("gcn, deeplabv3 or fcn (ablation baselines: kxk, stacked3x3). Default gcn.")]
    public string Model { get; init; } = "gcn";

    /// <summary>--k</summary>
    [CommandOption("-k|--kernel <K>")]
    [Description("GCN kernel size (odd); --k works too. Default 15.")]
    public int K { get; init; } = 15;

    /// <summary>--no-br</summary>
    [CommandOption("--no-br")]
    [Description("Leave out boundary refinement.")]
    public bool NoBr { get; init; }

    /// <summary>--no-aspp</summary>
    [CommandOption("--no-aspp")]
    [Description("DeepLabV3 without ASPP (an FCN head on the dilated backbone).")]
    public bool NoAspp { get; init; }

    /// <summary>--rates</summary>
    [CommandOption("--rates <LIST>")]
    [Description("ASPP rates, comma-separated. Default 6,12,18 at output stride 16, doubled at 8.")]
    public string? Rates { get; init; }

    /// <summary>--dilations</summary>
    [CommandOption("--dilations <LIST>")]
    [Description("deeplabv3/fcn: rates of the last stage's 3×3 convolutions one by one (multi-grid / hybrid dilated convolution), e.g. 1,2,4,5 for ResNet-18. Default: the standard dilation.")]
    public string? Dilations { get; init; }

    /// <summary>--output-stride</summary>
    [CommandOption("--output-stride <OS>")]
    [Description("Backbone output stride for deeplabv3 and fcn: 8 or 16. Default 16.")]
    public int OutputStride { get; init; } = 16;

    /// <summary>--width</summary>
    [CommandOption("--width <W>")]
    [Description("Base width of the from-scratch ResNet-18. Default 32.")]
    public int Width { get; init; } = 32;

    /// <summary>--loss</summary>
    [CommandOption("--loss <SPEC>")]
    [Description("ce, dice, focal, or a sum such as ce+dice. Default ce.")]
    public string Loss { get; init; } = "ce";

    /// <summary>--eval-scenes</summary>
    [CommandOption("--eval-scenes <N>")]
    [Description("Validation scenes. Default 256.")]
    public int EvalScenes { get; init; } = 256;

    /// <summary>--aux-head</summary>
    [CommandOption("--aux-head")]
    [Description("Add mmsegmentation's auxiliary FCN head on layer3 (loss weight 0.4 in training; not used at inference).")]
    public bool AuxHead { get; init; }

    /// <summary>--depth</summary>
    [CommandOption("--depth <N>")]
    [Description("ResNet depth of the backbone: 18, 34, 50 or 101. Default 18.")]
    public int Depth { get; init; } = 18;

    /// <summary>--torchvision-backbone</summary>
    [CommandOption("--torchvision-backbone")]
    [Description("torchvision's ResNet layout (width 64, 7×7 stem with max-pool) instead of the small from-scratch one; needed for --backbone-weights.")]
    public bool TorchvisionBackbone { get; init; }

    /// <summary>--backbone-weights</summary>
    [CommandOption("--backbone-weights <PTH>")]
    [Description("Initialise the backbone from a torchvision ImageNet state dict (resnet18/34/50/101 .pth as downloaded, or .safetensors); implies --torchvision-backbone.")]
    public string? BackboneWeights { get; init; }

    /// <summary>The options for the trainer.</summary>
    public SegTrainOptions Options() => new()
    {
        BackboneWeights = BackboneWeights,
        Model = new SegModelConfig
        {
            Model = EnumNames.Parse<SegModelKind>(nameof(SegModelConfig.Model), Model, "model"),
            K = K,
            BoundaryRefinement = !NoBr,
            Aspp = !NoAspp,
            OutputStride = OutputStride,
            Depth = Depth,
            BaseWidth = TorchvisionBackbone || BackboneWeights is not null ? 64 : Width,
            SmallStem = !(TorchvisionBackbone || BackboneWeights is not null),
            Rates = ListOption.TryInts(Rates),
            Dilations = ListOption.TryInts(Dilations),
            AuxHead = AuxHead,
        },
        Training = CheckpointEveryOption is null ? Training() with { CheckpointEvery = Training().EvalEvery } : Training(),
        Loss = Loss,
        EvalScenes = EvalScenes,
        Scenes = new SceneOptions(Canvas, IgnoreBand: IgnoreBand, Seed: (ulong)Seed),
        Data = Data,
    };

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        foreach (var (option, text) in new[] { ("--rates", Rates), ("--dilations", Dilations) })
            if (text is not null && ListOption.TryInts(text) is null)
                return ValidationResult.Error($"{option}: '{text}'; expected positive integers separated by commas");
        if (!SegmentationLosses.IsValid(Loss)) return ValidationResult.Error($"--loss: '{Loss}'; expected ce, dice, focal or a sum such as ce+dice");
        if (EvalScenes < 1) return ValidationResult.Error($"--eval-scenes: {EvalScenes}; expected at least 1");
        if (Canvas < 40) return ValidationResult.Error($"--canvas: {Canvas}; expected at least 40 (items are up to 45 px)");
        if (Dataset is not null && Dataset != "scenes" && Dataset != "auto" && !SegmentationDatasets.Layouts.Contains(Dataset))
            return ValidationResult.Error($"--dataset: '{Dataset}'; expected scenes, {string.Join(", ", SegmentationDatasets.Layouts)} or auto");
        if (OnDataset && string.IsNullOrEmpty(DataRoot)) return ValidationResult.Error("--data-root: required with --dataset");
        if (!OnDataset && DataRoot is not null) return ValidationResult.Error("--data-root: needs --dataset (custom, voc, cityscapes, ade20k or auto)");
        if (EvalImages is < 1) return ValidationResult.Error($"--eval-images: {EvalImages}; expected at least 1");
        if (LoaderThreads < 1) return ValidationResult.Error($"--loader-threads: {LoaderThreads}; expected at least 1");
        if (OnDataset)
        {
            try { DatasetOptions(); }
            catch (TesseraUserException e) { return ValidationResult.Error(e.Message); }
        }
        return base.Validate();
    }
}

/// <summary><c>tessera seg train</c>.</summary>
public sealed class SegTrainCommand : TesseraCommand<SegTrainSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SegTrainSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        if (settings.OnDataset) return TrainOnDataset(settings, device, cancellation);
        var options = settings.Options();
        options.Model.Validate();
        var trainer = new SegTrainer(options, device);
        SegEvaluation? result = Ui.WithProgress($"training {EnumNames.Name(options.Model.Model)}", options.Training.Steps, "steps",
            report => trainer.Train(settings.Out, settings.Resume, (step, loss, status) => report(step, status ?? $"loss {loss:0.000}"), cancellation));
        if (result is null)
        {
            Ui.Result($"stopped before step {settings.StopAt} with a checkpoint in {Path.GetFullPath(settings.Out)}; continue with --resume");
            return Program.Ok;
        }
        PrintEvaluation(Ui, result);
        Ui.Result($"run folder {Path.GetFullPath(settings.Out)} (checkpoint.safetensors, loss.png, metrics.json)");
        return Program.Ok;
    }

    private int TrainOnDataset(SegTrainSettings settings, torch.Device device, CancellationToken cancellation)
    {
        var options = settings.DatasetOptions();
        options.Model.Validate();
        Ui.Say("checking the dataset (every image and label of both splits)");
        var trainer = new SegDatasetTrainer(options, device, cancellation);
        Ui.Say($"{trainer.TrainSet.Layout}: {trainer.TrainSet.Count} training and {trainer.ValSet.Count} validation images, {trainer.TrainSet.NumClasses} classes");
        var o = trainer.Options;
        DatasetScore? result = Ui.WithProgress($"training {EnumNames.Name(o.Model.Model)}", o.Training.Steps, "steps",
            report => trainer.Train(settings.Out, settings.Resume, (step, loss, status) => report(step, status ?? $"loss {loss:0.000}"), cancellation));
        if (result is null)
        {
            Ui.Result($"stopped before step {settings.StopAt} with a checkpoint in {Path.GetFullPath(settings.Out)}; continue with --resume");
            return Program.Ok;
        }
        SegEvalCommand.PrintMetrics(Ui, result.Metrics, result.Images);
        Ui.Result($"run folder {Path.GetFullPath(settings.Out)} (checkpoint.safetensors, loss.png, metrics.json)");
        return Program.Ok;
    }

    internal static void PrintEvaluation(Ui ui, SegEvaluation result)
    {
        var table = new Table().AddColumn("class").AddColumn(new TableColumn("IoU").RightAligned()).AddColumn(new TableColumn("Acc").RightAligned());
        string P(double v) => double.IsNaN(v) ? "nan" : (100 * v).ToString("0.0", CultureInfo.InvariantCulture);
        foreach (var c in result.Metrics.PerClass) table.AddRow(Markup.Escape(c.Name), P(c.IoU), P(c.Acc));
        ui.Console.Write(table);
        ui.Result($"mIoU {P(result.Metrics.MIoU)}  aAcc {P(result.Metrics.AAcc)}  boundary-band mIoU {P(result.BoundaryMIoU)}  interior mIoU {P(result.InteriorMIoU)}");
    }
}

/// <summary>Options of <c>tessera seg predict</c>.</summary>
internal sealed class SegPredictSettings : SegDatasetSettings
{
    [CommandOption("--input <DIR>"), Description("Folder of images (PNG/JPEG); or give --data-root (and --dataset, --split) to label a dataset split.")] public string? Input { get; init; }
    [CommandOption("--output <DIR>"), Description("Folder for labels/ (label PNGs in the dataset's convention) and overlays/ (colour blends).")] public string? Output { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Input) == string.IsNullOrEmpty(DataRoot)) return ValidationResult.Error("--input: give either --input DIR or --data-root DIR (a dataset split)");
        if (string.IsNullOrEmpty(Output)) return ValidationResult.Error("--output: required");
        return base.Validate();
    }
}

/// <summary>
/// <c>tessera seg predict</c>: label PNGs and overlays at the original resolution, as a shard of a batch job: items
/// sorted by name and dealt round-robin, each written atomically (overlay, then the label last), finished items
/// skipped, a summary written last.
/// </summary>
internal sealed class SegPredictCommand : TesseraCommand<SegPredictSettings>
{
    private sealed record Item(string Name, string Image, int Index);

    /// <inheritdoc />
    public override int Execute(CommandContext context, SegPredictSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var shard = Runtime.Sharding.Shard.Resolve(settings.Shard, settings.ShardCount);
        if (shard.Source != Runtime.Sharding.ShardSource.None) Ui.Result(shard.Describe());
        string output = Path.GetFullPath(settings.Output!);
        SegmentationDataset? dataset = null;
        List<Item> items;
        if (settings.Input is not null)
        {
            string input = Path.GetFullPath(settings.Input);
            if (!Directory.Exists(input)) throw new TesseraUserException($"--input: folder '{settings.Input}' does not exist");
            if (output.TrimEnd('/') == input.TrimEnd('/'))
                throw new TesseraUserException($"--output: '{settings.Output}' is the input folder; predictions would mix with (and could overwrite) the inputs");
            items = Directory.EnumerateFiles(input).Select(f => new Item(Path.GetFileNameWithoutExtension(f) + ".png", f, -1))
                .OrderBy(i => i.Name, StringComparer.Ordinal).ThenBy(i => i.Image, StringComparer.Ordinal).ToList();
            if (items.Count == 0) throw new TesseraUserException($"--input: folder '{settings.Input}' is empty");
        }
        else
        {
            dataset = settings.OpenDataset();
            var ds = dataset;
            items = SegTestCommand.SortedIndices(ds).Select(i => new Item(Path.GetFileNameWithoutExtension(ds[i].Label) + ".png", ds[i].Image, i)).ToList();
        }
        var duplicate = items.GroupBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new TesseraUserException($"two inputs would write {duplicate.Key}: {string.Join(" and ", duplicate.Select(i => i.Image))}");
        using var model = SegmentationModel.Load(settings.Checkpoint!, device);
        if (dataset is not null && model.Config.Classes != dataset.NumClasses)
            throw new TesseraUserException($"--checkpoint: {settings.Checkpoint} predicts {model.Config.Classes} classes but the {dataset.Layout} dataset has {dataset.NumClasses}");
        var palette = dataset?.Palette ?? (model.Config.ImageNetInput ? SegmentationDataset.DefaultPalette(model.Config.Classes) : FashionMnistScenes.Palette);
        string labels = Path.Combine(output, "labels"), overlays = Path.Combine(output, "overlays");
        Directory.CreateDirectory(labels);
        Directory.CreateDirectory(overlays);
        var options = settings.Inference();
        int mine = shard.Select(items).Count();
        var summary = Ui.WithProgress("predicting", mine, "img", report =>
            ShardedWork.Run(items, shard, i => i.Name, i => File.Exists(Path.Combine(labels, i.Name)), item =>
            {
                using var scope = torch.NewDisposeScope();
                var sample = item.Index >= 0 ? dataset!.Load(item.Index) : LoadImage(item.Image);
                byte[] pred = DatasetEvaluation.Predict(model.Network, sample, options, model.Config.ImageNetInput, device);
                var overlay = PredictionWriter.Overlay(pred, sample.Width, sample.Height, palette, sample.Image);
                WriteAtomically(Path.Combine(overlays, item.Name), tmp =>
                    ImageIO.SavePng(torch.tensor(overlay, [3, sample.Height, sample.Width], torch.ScalarType.Byte), tmp));
                // The label map last: its presence marks the item finished.
                WriteAtomically(Path.Combine(labels, item.Name), tmp =>
                {
                    if (dataset is not null) PredictionWriter.WriteLabels(dataset, tmp, pred, sample.Width, sample.Height);
                    else PalettePng.Write(tmp, pred, sample.Width, sample.Height);
                });
            }, Path.Combine(output, Runtime.Sharding.ShardSummary.FileName(shard)), (n, _) => report(n, null), cancellation));
        foreach (var (name, why) in summary.Failed) Ui.Error($"{name}: {why}");
        Ui.Result($"shard {shard}: {summary.Done} predicted, {summary.Skipped} already done, {summary.Failed.Count} failed; labels/ and overlays/ in {output}");
        return summary.Failed.Count == 0 ? Program.Ok : Program.UserError;
    }

    private static SegmentationSample LoadImage(string path)
    {
        try
        {
            var (w, h, rgb) = SegmentationDataset.DecodeRgb(path);
            return new SegmentationSample(w, h, rgb, new byte[w * h]);
        }
        catch (TesseraFormatException) { throw; }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            throw new TesseraFormatException(path, $"not a decodable image ({e.Message})", e);
        }
    }

    private static void WriteAtomically(string path, Action<string> write)
    {
        string tmp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileNameWithoutExtension(path) + ".partial.png");
        write(tmp);
        File.Move(tmp, path, overwrite: true);
    }
}
