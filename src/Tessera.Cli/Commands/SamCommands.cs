using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using Tessera.Cli.Infrastructure;
using Tessera.IO;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Sam;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Cli.Commands;

/// <summary>Options shared by the SAM commands that run a checkpoint on an image.</summary>
internal class SamImageSettings : GlobalSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("SAM weights: an official sam_vit_{b,l,h}_*.pth as released, or a .safetensors from tessera sam train.")] public string? Checkpoint { get; init; }
    [CommandOption("--model <SIZE>"), Description("vit_b, vit_l or vit_h to insist on a size; default: whatever the checkpoint holds.")] public string? Model { get; init; }
    [CommandOption("--image <FILE>"), Description("The image (PNG, JPEG, BMP, GIF, WebP).")] public string? Image { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (string.IsNullOrEmpty(Image)) return ValidationResult.Error("--image: required");
        return base.Validate();
    }

    /// <summary>Loads the model onto <paramref name="device"/> and the image, and sets the image on a predictor.</summary>
    internal (SamModel Model, SamPredictor Predictor, torch.Tensor Rgb) Open(torch.Device device, Ui ui)
    {
        var expected = Model is null ? null : SamConfig.FromName(Model);
        var rgb = ImageIO.Load(Image!, ColorMode.Rgb);
        var model = SamModel.FromCheckpoint(Checkpoint!, expected);
        model.to(device);
        var predictor = new SamPredictor(model);
        ui.WithProgress("encoding image", 1, "img", report =>
        {
            predictor.SetImage(rgb);
            report(1, null);
            return 0;
        });
        return (model, predictor, rgb);
    }
}

/// <summary>Options of <c>tessera sam segment</c>.</summary>
internal sealed class SamSegmentSettings : SamImageSettings
{
    [CommandOption("--point <X,Y[[,LABEL]]>"), Description("A click in image pixels; LABEL 1 (object, default) or 0 (background). Repeat for more points.")] public string[] Points { get; init; } = [];
    [CommandOption("--box <X0,Y0,X1,Y1>"), Description("A box in image pixels.")] public string? Box { get; init; }
    [CommandOption("--multimask"), Description("Predict three masks for an ambiguous prompt (written as OUT.0.png …); --out gets the best-scoring one.")] public bool Multimask { get; init; }
    [CommandOption("-o|--out <FILE>"), Description("Mask PNG (0/255); an overlay is written beside it as NAME.overlay.png. Default mask.png")] public string Out { get; init; } = "mask.png";

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (Points.Length == 0 && Box is null) return ValidationResult.Error("give at least one --point or a --box");
        return base.Validate();
    }

    internal SamPrompt Prompt()
    {
        var points = Points.Select(p =>
        {
            var v = ListOption.Numbers("--point", p, 2, 3, "x,y or x,y,label");
            if (v.Length == 3 && v[2] is not (0 or 1)) throw new TesseraUserException($"--point '{p}': label must be 1 (object) or 0 (background)");
            return new SamPoint(v[0], v[1], v.Length == 2 || v[2] == 1);
        }).ToList();
        SamBox? box = null;
        if (Box is not null)
        {
            var b = ListOption.Numbers("--box", Box, 4, 4, "x0,y0,x1,y1");
            box = new SamBox(b[0], b[1], b[2], b[3]);
        }
        return new SamPrompt(points, box);
    }
}

/// <summary><c>tessera sam segment</c>.</summary>
internal sealed class SamSegmentCommand : TesseraCommand<SamSegmentSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SamSegmentSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var prompt = settings.Prompt(); // parse errors before the (slow) model load
        var (model, predictor, rgb) = settings.Open(device, Ui);
        using (model)
        using (predictor)
        using (rgb)
        {
            predictor.Check(prompt);
            using var prediction = predictor.Predict(prompt, settings.Multimask);
            string output = Path.GetFullPath(settings.Out);
            string stem = Path.Combine(Path.GetDirectoryName(output)!, Path.GetFileNameWithoutExtension(output));
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            int best = prediction.Best;
            var masks = Enumerable.Range(0, (int)prediction.Masks.shape[0]).Select(i => prediction.Masks[i]).ToList();
            ImageIO.SavePng(masks[best].to(torch.ScalarType.Byte).mul(255).unsqueeze(0), output);
            if (settings.Multimask)
                for (int i = 0; i < masks.Count; i++) ImageIO.SavePng(masks[i].to(torch.ScalarType.Byte).mul(255).unsqueeze(0), $"{stem}.{i}.png");
            ImageIO.SavePng(MaskOverlay.Masks(rgb, [masks[best]]), stem + ".overlay.png");
            for (int i = 0; i < masks.Count; i++)
                Ui.Result($"mask {i}: predicted IoU {prediction.Scores[i]:F3}, {masks[i].sum().item<long>()} pixels{(i == best ? " (best)" : "")}");
            Ui.Result($"wrote {output} and {stem}.overlay.png");
        }
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera sam auto</c>.</summary>
internal sealed class SamAutoSettings : SamImageSettings
{
    [CommandOption("-o|--out <DIR>"), Description("Folder for masks/NNN.png, overlay.png and masks.json (RLEs, scores, boxes). Default sam-auto")] public string Out { get; init; } = "sam-auto";
    [CommandOption("--points-per-side <N>"), Description("Point grid N × N. Default 32")] public int PointsPerSide { get; init; } = 32;
    [CommandOption("--points-per-batch <N>"), Description("Prompts decoded at once. Default 64")] public int PointsPerBatch { get; init; } = 64;
    [CommandOption("--pred-iou-thresh <T>"), Description("Keep masks with predicted IoU above T. Default 0.88")] public double PredIouThresh { get; init; } = 0.88;
    [CommandOption("--stability-thresh <T>"), Description("Keep masks with stability score at least T. Default 0.95")] public double StabilityThresh { get; init; } = 0.95;
    [CommandOption("--box-nms-thresh <T>"), Description("Box IoU for duplicate removal. Default 0.7")] public double BoxNmsThresh { get; init; } = 0.7;
    [CommandOption("--crop-layers <N>"), Description("Extra layers of overlapping crops. Default 0")] public int CropLayers { get; init; }
    [CommandOption("--min-region-area <PX>"), Description("Remove holes and islands smaller than this. Default 0 (off)")] public int MinRegionArea { get; init; }
    [CommandOption("--output-mode <MODE>"), Description("Segmentations in masks.json: coco_rle (default), uncompressed_rle, or binary_mask (PNGs only)")] public string OutputMode { get; init; } = "coco_rle";

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (PointsPerSide < 1) return ValidationResult.Error($"--points-per-side: {PointsPerSide} must be at least 1");
        if (PointsPerBatch < 1) return ValidationResult.Error($"--points-per-batch: {PointsPerBatch} must be at least 1");
        if (CropLayers < 0) return ValidationResult.Error($"--crop-layers: {CropLayers} is negative");
        if (!double.IsFinite(PredIouThresh)) return ValidationResult.Error($"--pred-iou-thresh: {PredIouThresh}; expected a number");
        if (!(StabilityThresh >= 0 && StabilityThresh <= 1)) return ValidationResult.Error($"--stability-thresh: {StabilityThresh}; expected a number in [0, 1]");
        if (!(BoxNmsThresh >= 0 && BoxNmsThresh <= 1)) return ValidationResult.Error($"--box-nms-thresh: {BoxNmsThresh}; expected a number in [0, 1]");
        if (MinRegionArea < 0) return ValidationResult.Error($"--min-region-area: {MinRegionArea} is negative");
        if (OutputMode is not ("coco_rle" or "uncompressed_rle" or "binary_mask"))
            return ValidationResult.Error($"--output-mode: '{OutputMode}' is not coco_rle, uncompressed_rle or binary_mask");
        return base.Validate();
    }
}

/// <summary><c>tessera sam auto</c>.</summary>
internal sealed class SamAutoCommand : TesseraCommand<SamAutoSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SamAutoSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        string output = Path.GetFullPath(settings.Out);
        if (File.Exists(output)) throw new TesseraUserException($"--out: '{settings.Out}' is a file; expected a folder");
        var (model, predictor, rgb) = settings.Open(device, Ui);
        using (model)
        using (predictor)
        using (rgb)
        {
            var options = new AmgOptions(settings.PointsPerSide, settings.PointsPerBatch, settings.PredIouThresh, settings.StabilityThresh,
                BoxNmsThreshold: settings.BoxNmsThresh, CropLayers: settings.CropLayers, MinMaskRegionArea: settings.MinRegionArea);
            var generator = new AutomaticMaskGenerator(predictor, options);
            var masks = Ui.WithProgress("generating masks", 1000, "‰", report =>
                generator.Generate(rgb, new Progress<double>(f => report((long)(f * 1000), null))));
            masks = [.. masks.OrderByDescending(m => m.Area)];
            Directory.CreateDirectory(Path.Combine(output, "masks"));
            int h = (int)rgb.shape[1], w = (int)rgb.shape[2];
            var tensors = new List<torch.Tensor>();
            for (int i = 0; i < masks.Count; i++)
            {
                var t = torch.tensor(masks[i].Segmentation.Decode(), [h, w]);
                tensors.Add(t);
                ImageIO.SavePng(t.to(torch.ScalarType.Byte).mul(255).unsqueeze(0), Path.Combine(output, "masks", $"{i:D3}.png"));
            }
            ImageIO.SavePng(MaskOverlay.Masks(rgb, tensors), Path.Combine(output, "overlay.png"));
            foreach (var t in tensors) t.Dispose();
            var format = settings.OutputMode switch { "coco_rle" => MaskJsonFormat.CocoRle, "uncompressed_rle" => MaskJsonFormat.UncompressedRle, _ => MaskJsonFormat.BinaryMask };
            AutomaticMasksJson.Write(Path.Combine(output, "masks.json"), masks, format);
            Ui.Result($"{masks.Count} masks; wrote {Path.Combine(output, "masks.json")}, overlay.png and masks/");
        }
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera sam train</c>.</summary>
public sealed class SamTrainSettings : TrainingSettings
{
    /// <inheritdoc />
    protected override TrainingOptions Defaults => SamTrainOptions.DefaultTraining;

    /// <inheritdoc />
    protected override string DefaultOut => "runs/sam";

    /// <summary>--init</summary>
    [CommandOption("--init <CKPT>")]
    [Description("Start from a SAM checkpoint (official .pth or Tessera .safetensors) instead of a small model from scratch.")]
    public string? Init { get; init; }

    /// <summary>--freeze-encoder</summary>
    [CommandOption("--freeze-encoder")]
    [Description("Train only the prompt encoder and mask decoder (fine-tuning a loaded checkpoint).")]
    public bool FreezeEncoder { get; init; }

    /// <summary>--width</summary>
    [CommandOption("--width <W>")]
    [Description("Encoder and prompt width of the from-scratch model (a multiple of 64). Default 128")]
    public int Width { get; init; } = 128;

    /// <summary>--depth</summary>
    [CommandOption("--depth <N>")]
    [Description("Encoder blocks of the from-scratch model (a multiple of 2). Default 4")]
    public int Depth { get; init; } = 4;

    /// <summary>--canvas</summary>
    [CommandOption("--canvas <PX>")]
    [Description("Scene canvas side. Default 64")]
    public int Canvas { get; init; } = 64;

    /// <summary>--rounds</summary>
    [CommandOption("--rounds <N>")]
    [Description("Prompting rounds per object and step (first prompt, then error-region clicks). Default 4")]
    public int Rounds { get; init; } = 4;

    /// <summary>--eval-scenes</summary>
    [CommandOption("--eval-scenes <N>")]
    [Description("Validation scenes for the click protocol. Default 64")]
    public int EvalScenes { get; init; } = 64;

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (Width < 64 || Width % 64 != 0) return ValidationResult.Error($"--width: {Width} is not a positive multiple of 64");
        if (Depth < 2 || Depth % 2 != 0) return ValidationResult.Error($"--depth: {Depth} is not a positive multiple of 2");
        if (Rounds < 1 || EvalScenes < 1) return ValidationResult.Error("--rounds and --eval-scenes must be at least 1");
        if (Canvas < 32) return ValidationResult.Error($"--canvas: {Canvas} is below 32");
        if (FreezeEncoder && Init is null) return ValidationResult.Error("--freeze-encoder needs --init CKPT (a random encoder would stay random)");
        return base.Validate();
    }

    internal SamTrainOptions Options() => new()
    {
        Config = SamConfig.Small(Canvas, Width, Depth),
        Init = Init,
        FreezeEncoder = FreezeEncoder,
        Training = CheckpointEveryOption is null ? Training() with { CheckpointEvery = Math.Min(250, Training().EvalEvery) } : Training(),
        Rounds = Rounds,
        EvalScenes = EvalScenes,
        Scenes = new Segmentation.Data.SceneOptions(Canvas: Canvas, Seed: (ulong)Seed),
        Data = Data,
    };
}

/// <summary><c>tessera sam train</c>.</summary>
public sealed class SamTrainCommand : TesseraCommand<SamTrainSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SamTrainSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var options = settings.Options();
        var trainer = new SamTrainer(options, device);
        var result = Ui.WithProgress("training SAM", options.Training.Steps, "steps",
            report => trainer.Train(settings.Out, settings.Resume, (step, loss, status) => report(step, status ?? $"loss {loss:0.000}"), cancellation));
        if (result is null)
        {
            Ui.Result($"stopped before step {settings.StopAt} with a checkpoint in {Path.GetFullPath(settings.Out)}; continue with --resume");
            return Program.Ok;
        }
        SamEvalCommand.Print(Ui, result);
        Ui.Result($"run folder {Path.GetFullPath(settings.Out)} (model.safetensors, checkpoint.safetensors, loss.png, clicks.json)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera sam eval</c>.</summary>
internal sealed class SamEvalSettings : DataSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("SAM weights (official .pth, or model.safetensors of tessera sam train).")] public string? Checkpoint { get; init; }
    [CommandOption("--scenes <N>"), Description("Validation scenes (Fashion-MNIST test items). Default 128")] public int Scenes { get; init; } = 128;
    [CommandOption("--clicks <N>"), Description("Clicks per object. Default 5")] public int Clicks { get; init; } = 5;
    [CommandOption("--canvas <PX>"), Description("Scene canvas side. Default 64")] public int Canvas { get; init; } = 64;
    [CommandOption("--no-mask-feedback"), Description("Do not give the previous mask logits back with each new click (points only)")] public bool NoMaskFeedback { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (Scenes < 1 || Clicks < 1) return ValidationResult.Error("--scenes and --clicks must be at least 1");
        if (Canvas < 32) return ValidationResult.Error($"--canvas: {Canvas} is below 32");
        return base.Validate();
    }
}

/// <summary><c>tessera sam eval</c>: the SAM paper's click protocol on Fashion-MNIST scenes.</summary>
internal sealed class SamEvalCommand : TesseraCommand<SamEvalSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, SamEvalSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        using var model = SamModel.FromCheckpoint(settings.Checkpoint!);
        model.to(device);
        var result = Ui.WithProgress("click protocol", 1, "runs", report =>
        {
            var r = SamTrainer.Evaluate(model, new Segmentation.Data.SceneOptions(Canvas: settings.Canvas), settings.Scenes, settings.Clicks, settings.Data, feedMask: !settings.NoMaskFeedback);
            report(1, null);
            return r;
        });
        Print(Ui, result);
        return Program.Ok;
    }

    internal static void Print(Ui ui, ClickEvaluation result)
    {
        var table = new Table().AddColumn("clicks").AddColumn(new TableColumn("mIoU").RightAligned());
        for (int k = 0; k < result.MIoU.Length; k++) table.AddRow((k + 1).ToString(CultureInfo.InvariantCulture), (100 * result.MIoU[k]).ToString("0.0", CultureInfo.InvariantCulture));
        ui.Console.Write(table);
        ui.Result($"objects {result.Objects}; mIoU after " + string.Join(", ", result.MIoU.Select((v, k) => $"{k + 1} click{(k == 0 ? "" : "s")} {100 * v:0.0}")));
    }
}
