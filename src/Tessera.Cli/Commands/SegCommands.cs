using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using Tessera.Cli.Infrastructure;
using Tessera.Data;
using Tessera.IO;
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
    protected override TrainingOptions Defaults => SegTrainOptions.DefaultTraining with { Steps = 1000 };

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

    /// <summary>--depth</summary>
    [CommandOption("--depth <N>")]
    [Description("ResNet depth of the backbone: 18, 34 or 50. Default 18.")]
    public int Depth { get; init; } = 18;

    /// <summary>--torchvision-backbone</summary>
    [CommandOption("--torchvision-backbone")]
    [Description("torchvision's ResNet layout (width 64, 7×7 stem with max-pool) instead of the small from-scratch one; needed for --backbone-weights.")]
    public bool TorchvisionBackbone { get; init; }

    /// <summary>--backbone-weights</summary>
    [CommandOption("--backbone-weights <PTH>")]
    [Description("Initialise the backbone from a torchvision ImageNet state dict (resnet18/34/50 .pth as downloaded, or .safetensors); implies --torchvision-backbone.")]
    public string? BackboneWeights { get; init; }

    /// <summary>The options for the trainer.</summary>
    public SegTrainOptions Options() => new()
    {
        BackboneWeights = BackboneWeights,
        Model = new SegModelConfig
        {
            Model = Model,
            K = K,
            BoundaryRefinement = !NoBr,
            Aspp = !NoAspp,
            OutputStride = OutputStride,
            Depth = Depth,
            BaseWidth = TorchvisionBackbone || BackboneWeights is not null ? 64 : Width,
            SmallStem = !(TorchvisionBackbone || BackboneWeights is not null),
            Rates = ListOption.TryInts(Rates),
            Dilations = ListOption.TryInts(Dilations),
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
        var options = settings.Options();
        options.Model.Validate();
        var trainer = new SegTrainer(options, device);
        SegEvaluation? result = Ui.WithProgress($"training {options.Model.Model}", options.Training.Steps, "steps",
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
internal sealed class SegPredictSettings : GlobalSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("A checkpoint.safetensors written by tessera seg train.")] public string? Checkpoint { get; init; }
    [CommandOption("--input <DIR>"), Description("Folder of images (PNG/JPEG).")] public string? Input { get; init; }
    [CommandOption("--output <DIR>"), Description("Folder for labels/ (class-index PNGs) and overlays/ (colour blends).")] public string? Output { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (string.IsNullOrEmpty(Input)) return ValidationResult.Error("--input: required");
        if (string.IsNullOrEmpty(Output)) return ValidationResult.Error("--output: required");
        return base.Validate();
    }
}

/// <summary><c>tessera seg predict</c>.</summary>
internal sealed class SegPredictCommand : TesseraCommand<SegPredictSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SegPredictSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        string input = Path.GetFullPath(settings.Input!), output = Path.GetFullPath(settings.Output!);
        if (!Directory.Exists(input)) throw new TesseraUserException($"--input: folder '{settings.Input}' does not exist");
        if (output.TrimEnd('/') == input.TrimEnd('/'))
            throw new TesseraUserException($"--output: '{settings.Output}' is the input folder; predictions would mix with (and could overwrite) the inputs");
        using var model = SegmentationModel.Load(settings.Checkpoint!, device);
        var files = Directory.EnumerateFiles(input).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new TesseraUserException($"--input: folder '{settings.Input}' is empty");
        Directory.CreateDirectory(Path.Combine(output, "labels"));
        Directory.CreateDirectory(Path.Combine(output, "overlays"));
        Ui.WithProgress("predicting", files.Count, "img", report =>
        {
            int done = 0;
            foreach (string file in files)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var image = ImageIO.Load(file, ColorMode.Rgb);
                var labels = model.Predict(image);
                string name = Path.GetFileNameWithoutExtension(file) + ".png";
                ImageIO.SavePng(labels.to(torch.ScalarType.Byte).unsqueeze(0), Path.Combine(output, "labels", name));
                ImageIO.SavePng(MaskOverlay.Labels(image, labels, FashionMnistScenes.Palette), Path.Combine(output, "overlays", name));
                report(++done, null);
            }
            return 0;
        });
        Ui.Result($"wrote {files.Count} label maps and overlays to {output}");
        return Program.Ok;
    }
}
