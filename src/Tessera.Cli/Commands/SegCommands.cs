using Tessera.Segmentation.Data;
using Tessera.Segmentation.Models;
using Tessera.Segmentation.Training;
using Tessera.Training.Distributed;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera seg make-dataset</c>.</summary>
internal sealed class MakeDatasetSettings : DataSettings
{
    [CommandOption("--canvas <PX>"), Description("Side of the scene canvas. Default 64.")] public int Canvas { get; init; } = 64;
    [CommandOption("--ignore-band"), Description("Mark a 1-pixel band on label boundaries as 255 (ignored).")] public bool IgnoreBand { get; init; }
    [CommandOption("-o|--output|--out <DIR>"), Description("Folder to create with images/, labels/ and instances/.")] public string Out { get; init; } = "scenes";
    [CommandOption("--count <N>"), Description("Scenes to write. Default 200.")] public int Count { get; init; } = 200;
    [CommandOption("--split <SPLIT>"), Description("train (items from Fashion-MNIST's training images) or val (its test images). Default val.")] public string SplitName { get; init; } = "val";

    public override ValidationResult Validate()
    {
        if (Count < 1) return ValidationResult.Error($"--count: {Count}; expected at least 1");
        if (OptionChoices.Check<OptionChoices.SceneSplit>("--split", SplitName, "scene split") is { Successful: false } bad) return bad;
        if (Canvas < 40) return ValidationResult.Error($"--canvas: {Canvas}; expected at least 40 (items are up to 45 px)");
        return base.Validate();
    }
}

/// <summary><c>tessera seg make-dataset</c>: Fashion-MNIST scenes as folders of PNGs.</summary>
internal sealed class MakeDatasetCommand : TesseraCommand<MakeDatasetSettings>
{
    public override int Execute(CommandContext context, MakeDatasetSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        var split = EnumNames.Parse<OptionChoices.SceneSplit>("split", settings.SplitName) == OptionChoices.SceneSplit.Train ? Split.Train : Split.Test;
        using var source = FashionMnist.Load(split, settings.Data);
        var scenes = new FashionMnistScenes(source, new SceneOptions(settings.Canvas, IgnoreBand: settings.IgnoreBand, Seed: (ulong)settings.Seed));
        Ui.WithProgress("writing scenes", settings.Count, "scenes", report =>
        {
            SceneFolder.Write(scenes, settings.Out, settings.Count, Ui.Counter(report), cancellation);
            return 0;
        });
        Ui.Result($"wrote {settings.Count} scenes to {Path.GetFullPath(settings.Out)} (images/, labels/, instances/, classes.txt; 11 classes, 255 = ignore)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera seg train</c>.</summary>
public sealed class SegTrainSettings : TrainingSettings
{
    protected override TrainingOptions Defaults => OnDataset ? SegDatasetTrainOptions.DefaultTraining : SegTrainOptions.DefaultTraining with { Steps = 1000 };

    /// <summary>Whether the run trains on a dataset split (not on Fashion-MNIST scenes).</summary>
    public bool OnDataset => Dataset is not (null or "scenes");

    // The dataset (scenes unless --dataset is given); the options shared with seg test/predict are SegDatasetOptions'.
    [CommandOption(SegDatasetOptions.Dataset), Description("scenes (Fashion-MNIST scenes, the default), custom, voc, cityscapes, ade20k, or auto (detected from --data-root). A dataset trains with SGD (momentum 0.9), lr 0.01, weight decay 0.0005 and the poly schedule unless given.")] public string? Dataset { get; init; }
    [CommandOption(SegDatasetOptions.DataRoot), Description(SegDatasetOptions.DataRootHelp + " With --dataset.")] public string? DataRoot { get; init; }
    [CommandOption("--split <SPLIT>"), Description("Training split. Default train.")] public string SplitName { get; init; } = "train";
    [CommandOption("--val-split <SPLIT>"), Description("Validation split. Default val.")] public string ValSplit { get; init; } = "val";
    [CommandOption(SegDatasetOptions.ImgSuffix), Description(SegDatasetOptions.ImgSuffixHelp)] public string ImgSuffix { get; init; } = ".jpg";
    [CommandOption(SegDatasetOptions.SegSuffix), Description(SegDatasetOptions.SegSuffixHelp)] public string SegSuffix { get; init; } = ".png";
    [CommandOption("--loader-threads <N>"), Description("Threads decoding and augmenting training images. Default 2.")] public int LoaderThreads { get; init; } = 2;
    [CommandOption("--eval-images <N>"), Description("Validate on the first N images of the validation split. Default: all.")] public int? EvalImages { get; init; }
    [CommandOption("--pretrained <FILE>"), Description("Start from all weights of a checkpoint of tessera seg train (fine-tuning; same model options and classes). Default: a new model.")] public string? Pretrained { get; init; }
    // Augmentation (RandomResize, RandomCrop).
    [CommandOption(SegDatasetOptions.Crop), Description("Training crop (RandomCrop, Pad), SIZE or H,W; also the window of --mode slide. Default 512.")] public string Crop { get; init; } = "512";
    [CommandOption("--scale <W,H>"), Description("RandomResize's base scale. Default 2048,512.")] public string Scale { get; init; } = "2048,512";
    [CommandOption("--ratio <MIN,MAX>"), Description("RandomResize's ratio range. Default 0.5,2.0.")] public string Ratio { get; init; } = "0.5,2.0";
    // Validation inference (recorded in the checkpoint: seg test, seg predict and the server run images this way).
    [CommandOption(SegDatasetOptions.Mode), Description("Validation inference: whole or slide (--crop windows every --stride). Default whole.")] public string Mode { get; init; } = "whole";
    [CommandOption(SegDatasetOptions.Stride), Description(SegDatasetOptions.StrideHelp)] public string Stride { get; init; } = "341";

    /// <summary>The options of a dataset run.</summary>
    public SegDatasetTrainOptions DatasetOptions()
    {
        var o = Options();
        var crop = SegDatasetOptions.Size("--crop", Crop);
        var scale = ListOption.Ints("--scale", Scale);
        if (scale.Length != 2) throw new TesseraUserException($"--scale '{Scale}': expected W,H");
        var ratio = ListOption.Numbers("--ratio", Ratio, 2, 2, "min,max");
        return new SegDatasetTrainOptions
        {
            Model = o.Model,
            Training = o.Training,
            Loss = Loss,
            Layout = SegDatasetOptions.Layout(Dataset),
            Root = DataRoot!,
            Split = SplitName,
            ValSplit = ValSplit,
            Dataset = SegDatasetOptions.Files(ImgSuffix, SegSuffix),
            ScaleWidth = scale[0],
            ScaleHeight = scale[1],
            MinRatio = ratio[0],
            MaxRatio = ratio[1],
            CropHeight = crop.H,
            CropWidth = crop.W,
            Inference = SegDatasetOptions.Inference(new InferenceOptions(), Mode, Crop, Stride, null, false),
            LoaderThreads = LoaderThreads,
            EvalImages = EvalImages,
            BackboneWeights = BackboneWeights,
            Pretrained = Pretrained,
        };
    }

    protected override string DefaultOut => Path.Combine("runs", "seg");

    // Fashion-MNIST scenes only (an error with --dataset).
    [CommandOption("--canvas <PX>"), Description("Side of the scene canvas (scenes only). Default 64.")] public int? CanvasOption { get; init; }
    [CommandOption("--ignore-band"), Description("Mark a 1-pixel band on label boundaries as 255, ignored (scenes only).")] public bool IgnoreBand { get; init; }
    [CommandOption("--eval-scenes <N>"), Description("Validation scenes (scenes only; with --dataset see --eval-images). Default 256.")] public int? EvalScenesOption { get; init; }
    // The model.
    [CommandOption("--model <NAME>"), Description("gcn, deeplabv3 or fcn (ablation baselines: kxk, stacked3x3). Default gcn.")] public string Model { get; init; } = "gcn";
    [CommandOption("-k|--kernel <K>"), Description("GCN kernel size (odd); --k works too. Default 15.")] public int K { get; init; } = 15;
    [CommandOption("--no-br"), Description("Leave out boundary refinement.")] public bool NoBr { get; init; }
    [CommandOption("--no-aspp"), Description("DeepLabV3 without ASPP (an FCN head on the dilated backbone).")] public bool NoAspp { get; init; }
    [CommandOption("--rates <LIST>"), Description("ASPP rates, comma-separated. Default 6,12,18 at output stride 16, doubled at 8.")] public string? Rates { get; init; }
    [CommandOption("--dilations <LIST>"), Description("deeplabv3/fcn: rates of the last stage's 3×3 convolutions one by one (multi-grid / hybrid dilated convolution), e.g. 1,2,4,5 for ResNet-18. Default: the standard dilation.")] public string? Dilations { get; init; }
    [CommandOption("--output-stride <OS>"), Description("Backbone output stride for deeplabv3 and fcn: 8 or 16. Default 16.")] public int OutputStride { get; init; } = 16;
    [CommandOption("--width <W>"), Description("Base width of the from-scratch ResNet-18. Default 32.")] public int Width { get; init; } = 32;
    [CommandOption("--loss <SPEC>"), Description("ce, dice, focal, or a sum such as ce+dice. Default ce.")] public string Loss { get; init; } = "ce";
    [CommandOption("--aux-head"), Description("Add mmsegmentation's auxiliary FCN head on layer3 (loss weight 0.4 in training; not used at inference).")] public bool AuxHead { get; init; }
    [CommandOption("--depth <N>"), Description("ResNet depth of the backbone: 18, 34, 50 or 101. Default 18.")] public int Depth { get; init; } = 18;
    [CommandOption("--torchvision-backbone"), Description("torchvision's ResNet layout (width 64, 7×7 stem with max-pool) instead of the small from-scratch one; needed for --backbone-weights.")] public bool TorchvisionBackbone { get; init; }
    [CommandOption("--backbone-weights <PTH>"), Description("Initialise the backbone from a torchvision ImageNet state dict (resnet18/34/50/101 .pth as downloaded, or .safetensors); implies --torchvision-backbone.")] public string? BackboneWeights { get; init; }

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
        EvalScenes = EvalScenesOption ?? 256,
        Scenes = new SceneOptions(CanvasOption ?? 64, IgnoreBand: IgnoreBand, Seed: (ulong)Seed),
        Data = Data,
    };

    public override ValidationResult Validate()
    {
        foreach (var (option, text) in new[] { ("--rates", Rates), ("--dilations", Dilations) })
            if (text is not null && ListOption.TryInts(text) is null)
                return ValidationResult.Error($"{option}: '{text}'; expected positive integers separated by commas");
        if (Dataset is not null && Dataset != "scenes" && !SegDatasetOptions.IsLayoutOrAuto(Dataset))
            return ValidationResult.Error($"--dataset: '{Dataset}'; expected scenes, {string.Join(", ", SegmentationDatasets.Layouts)} or auto");
        if (OnDataset)
        {
            if (string.IsNullOrEmpty(DataRoot)) return ValidationResult.Error("--data-root: required with --dataset");
            foreach (var (flag, given) in new[] { ("--canvas", CanvasOption is not null), ("--eval-scenes", EvalScenesOption is not null), ("--ignore-band", IgnoreBand) })
                if (given) return ValidationResult.Error($"{flag}: only for Fashion-MNIST scenes, not with --dataset {Dataset} (a dataset run crops with --crop and validates on --eval-images)");
        }
        else
        {
            if (DataRoot is not null) return ValidationResult.Error("--data-root: needs --dataset (custom, voc, cityscapes, ade20k or auto)");
            if (Pretrained is not null) return ValidationResult.Error("--pretrained: needs --dataset (custom, voc, cityscapes, ade20k or auto)");
            if (EvalScenesOption is < 1) return ValidationResult.Error($"--eval-scenes: {EvalScenesOption}; expected at least 1");
            if (CanvasOption is < 40) return ValidationResult.Error($"--canvas: {CanvasOption}; expected at least 40 (items are up to 45 px)");
        }
        // The library checks the values (the loss spec, the model, the dataset options) and names the property; the user gets the flag.
        try
        {
            if (OnDataset) DatasetOptions().Validate();
            else SegmentationLosses.Validate(Loss, nameof(SegTrainOptions.Loss));
        }
        catch (TesseraUserException e) { return ValidationResult.Error(ParameterFlags.Message(e, GetType())); }
        return base.Validate();
    }
}

/// <summary><c>tessera seg train</c>.</summary>
public sealed class SegTrainCommand : TesseraCommand<SegTrainSettings>
{
    public override int Execute(CommandContext context, SegTrainSettings settings, CancellationToken cancellation)
    {
        var (communicator, device) = Ranks.Join(Ui, settings.Apply());
        if (settings.OnDataset) return TrainOnDataset(settings, device, communicator, cancellation);
        var options = settings.Options();
        options.Model.Validate();
        var trainer = new SegTrainer(options, device, communicator);
        SegEvaluation? result = Ui.Training($"training {EnumNames.Name(options.Model.Model)}", options.Training.Steps, progress => trainer.Train(settings.Out, settings.Resume, progress, cancellation));
        if (Ranks.IsFollower) return Program.Ok;
        if (result is null) return settings.Stopped(Ui);
        PrintEvaluation(Ui, result);
        Ui.Result($"run folder {Path.GetFullPath(settings.Out)} (checkpoint.safetensors, loss.png, metrics.json)");
        return Program.Ok;
    }

    private int TrainOnDataset(SegTrainSettings settings, torch.Device device, ICommunicator communicator, CancellationToken cancellation)
    {
        var options = settings.DatasetOptions();
        options.Model.Validate();
        Ui.Say("checking the dataset (every image and label of both splits)");
        var trainer = new SegDatasetTrainer(options, device, communicator, cancellation);
        Ui.Say($"{EnumNames.Name(trainer.TrainSet.Layout)}: {trainer.TrainSet.Count} training and {trainer.ValSet.Count} validation images, {trainer.TrainSet.NumClasses} classes");
        var o = trainer.Options;
        DatasetScore? result = Ui.Training($"training {EnumNames.Name(o.Model.Model)}", o.Training.Steps, progress => trainer.Train(settings.Out, settings.Resume, progress, cancellation));
        if (Ranks.IsFollower) return Program.Ok;
        if (result is null) return settings.Stopped(Ui);
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
    [CommandOption("--output <DIR>"), Description("Folder for labels/ (label PNGs in the dataset's convention, or the checkpoint's for --input), overlays/ (colour blends) and the shard's summary; seg eval --pred reads it as it is.")] public string? Output { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Input) == string.IsNullOrEmpty(DataRoot)) return ValidationResult.Error("--input: give either --input DIR or --data-root DIR (a dataset split)");
        if (string.IsNullOrEmpty(Output)) return ValidationResult.Error("--output: required");
        return base.Validate();
    }
}

/// <summary><c>tessera seg predict</c>: label PNGs and overlays of a folder or a dataset split, as a shard of a batch job (<see cref="BatchPrediction"/>).</summary>
internal sealed class SegPredictCommand : TesseraCommand<SegPredictSettings>
{
    public override int Execute(CommandContext context, SegPredictSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var shard = settings.ResolveShard(Ui);
        var dataset = settings.Input is null ? settings.OpenDataset() : null;
        var work = dataset is null ? BatchPrediction.FromFolder(settings.Input!, settings.Output!) : BatchPrediction.FromDataset(dataset);
        using var model = settings.LoadModel(device, dataset);
        var summary = Ui.WithProgress("predicting", work.Count(shard), "img", report =>
            work.Run(model, settings.Output!, settings.Inference(model), shard, Ui.Counter(report), cancellation));
        foreach (var (name, why) in summary.Failed) Ui.Error($"{name}: {why}");
        Ui.Result($"shard {shard}: {summary.Done} predicted, {summary.Skipped} already done, {summary.Failed.Count} failed; labels/ and overlays/ in {Path.GetFullPath(settings.Output!)}");
        return summary.Failed.Count == 0 ? Program.Ok : Program.UserError;
    }
}
