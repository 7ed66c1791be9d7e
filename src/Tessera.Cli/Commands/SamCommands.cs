using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Training;
using Tessera.Training.Distributed;

namespace Tessera.Cli.Commands;

/// <summary>Options shared by the SAM commands that run a checkpoint on an image.</summary>
internal class SamImageSettings : GlobalSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("SAM weights: an official sam_vit_{b,l,h}_*.pth, MobileSAM mobile_sam.pt or SAM 2 / SAM 2.1 sam2.1_hiera_*.pt as released, or a .safetensors from tessera sam train.")] public string? Checkpoint { get; init; }
    [CommandOption("--model <SIZE>"), Description("vit_b, vit_l, vit_h or vit_t (MobileSAM) to insist on a size; default: whatever the checkpoint holds.")] public string? Model { get; init; }
    [CommandOption("--image <FILE>"), Description("The image (PNG, JPEG, BMP, GIF, WebP).")] public string? Image { get; init; }
    [CommandOption("--lora <FILE>"), Description("Low-rank adapters of tessera sam train --lora-rank (lora.safetensors), merged into the checkpoint on load.")] public string? Lora { get; init; }
    [CommandOption("--precision <P>"), Description("fp32 (default), bf16 or fp16: the image encoder's number format, for every SAM family (bf16 is fast on CPUs with avx512_bf16/AMX; fp16 needs a GPU or avx512_fp16; the decoder stays fp32).")] public string PrecisionName { get; init; } = "fp32";

    /// <summary>--precision parsed.</summary>
    internal Tessera.Runtime.Precision Precision => EnumNames.Parse<Tessera.Runtime.Precision>("--precision", PrecisionName, "precision");

    /// <summary>The error when both --output and its former name -o/--out are given.</summary>
    protected const string OutputGivenTwice = "--output and -o/--out are the same option (--out is its former name); give one";

    /// <summary>Whether the command reads one --image (sam auto over a folder does not).</summary>
    protected virtual bool NeedsImage => true;

    /// <summary>Whether the command loads a checkpoint (sam auto --check-manifest does not).</summary>
    protected virtual bool NeedsCheckpoint => true;

    public override ValidationResult Validate()
    {
        if (NeedsCheckpoint && string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (NeedsImage && string.IsNullOrEmpty(Image)) return ValidationResult.Error("--image: required");
        return base.Validate();
    }

    /// <summary>Loads the checkpoint (with --lora merged) onto <paramref name="device"/>.</summary>
    internal SamModel LoadModel(torch.Device device) => SamCommandModel.Load(Checkpoint!, Lora, device, Model is null ? null : SamConfig.FromName(Model));

    /// <summary>Loads the checkpoint of any SAM family onto <paramref name="device"/> with its predictor (SAM and MobileSAM with --lora merged).</summary>
    internal LoadedSam LoadPredictor(torch.Device device)
    {
        if (SamCheckpoints.Detect(Checkpoint!) == SamFamily.Sam2)
        {
            if (Lora is not null) throw new TesseraUserException("--lora: adapters are for SAM and MobileSAM checkpoints; this is a SAM 2 checkpoint");
            if (Model is not null) throw new TesseraUserException($"--model {Model}: names a SAM or MobileSAM size; this is a SAM 2 checkpoint (its size is read from the weights)");
            return SamCheckpoints.Open(Checkpoint!, device, Precision);
        }
        var model = LoadModel(device);
        try
        {
            return new LoadedSam(model, new SamPredictor(model, Precision));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads the model onto <paramref name="device"/> and the image, and sets the image on a predictor.</summary>
    internal (LoadedSam Loaded, torch.Tensor Rgb) Open(torch.Device device, Ui ui)
    {
        var rgb = ImageIO.Load(Image!, ColorMode.Rgb);
        var loaded = LoadPredictor(device);
        ui.WithProgress("encoding image", 1, "img", report =>
        {
            loaded.Predictor.SetImage(rgb);
            report(1, null);
            return 0;
        });
        return (loaded, rgb);
    }
}

/// <summary>The model of a SAM command: a checkpoint with adapters merged, on a device.</summary>
internal static class SamCommandModel
{
    /// <summary>Loads <paramref name="checkpoint"/> (of the size of <paramref name="expected"/> when given), merges <paramref name="lora"/>, and moves it to <paramref name="device"/>.</summary>
    internal static SamModel Load(string checkpoint, string? lora, torch.Device device, SamConfig? expected = null)
    {
        if (lora is null) return SamModel.Load(checkpoint, device, expected);
        var model = SamModel.Load(checkpoint, expected: expected);
        SamLora.MergeInto(model, lora);
        model.to(device);
        return model;
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread, in order (unlike <see cref="Progress{T}"/>, which posts).</summary>
internal sealed class Reporter<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

/// <summary>Options of <c>tessera sam segment</c>.</summary>
internal sealed class SamSegmentSettings : SamImageSettings
{
    [CommandOption("--point <X,Y[[,LABEL]]>"), Description("A click in image pixels; LABEL 1 (object, default) or 0 (background). Repeat for more points.")] public string[] Points { get; init; } = [];
    [CommandOption("--box <X0,Y0,X1,Y1>"), Description("A box in image pixels.")] public string? Box { get; init; }
    [CommandOption("--multimask"), Description("Predict three masks for an ambiguous prompt (written as NAME.0.png …); --output gets the best-scoring one.")] public bool Multimask { get; init; }
    [CommandOption("--output <FILE>"), Description("Mask PNG (0/255); an overlay is written beside it as NAME.overlay.png. Default mask.png")] public string? Output { get; init; }
    [CommandOption("-o|--out <FILE>", IsHidden = true), Description("The former name of --output.")] public string? Out { get; init; }

    /// <summary>The mask file: --output (or its former name -o/--out), mask.png by default.</summary>
    internal string OutputFile => Output ?? Out ?? "mask.png";

    public override ValidationResult Validate()
    {
        if (Output is not null && Out is not null) return ValidationResult.Error(OutputGivenTwice);
        if (Points.Length == 0 && Box is null) return ValidationResult.Error("give at least one --point or a --box");
        return base.Validate();
    }

    internal SamPrompt Prompt()
    {
        var points = Points.Select(p => SamPoint.FromValues(ListOption.Numbers("--point", p, 2, 3, "x,y or x,y,label"))).ToList();
        SamBox? box = Box is null ? null : SamBox.FromValues(ListOption.Numbers("--box", Box, 4, 4, "x0,y0,x1,y1"));
        return new SamPrompt(points, box);
    }
}

/// <summary><c>tessera sam segment</c>.</summary>
internal sealed class SamSegmentCommand : TesseraCommand<SamSegmentSettings>
{
    public override int Execute(CommandContext context, SamSegmentSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var prompt = settings.Prompt(); // parse errors before the (slow) model load
        var (loaded, rgb) = settings.Open(device, Ui);
        using (loaded)
        using (rgb)
        {
            using var prediction = loaded.Predictor.Predict(prompt, settings.Multimask);
            string overlay = SamMaskFiles.Write(settings.OutputFile, prediction, rgb, settings.Multimask);
            for (int i = 0; i < prediction.Masks.shape[0]; i++)
                Ui.Result($"mask {i}: predicted IoU {prediction.Scores[i]:F3}, {prediction.Masks[i].sum().item<long>()} pixels{(i == prediction.Best ? " (best)" : "")}");
            Ui.Result($"wrote {Path.GetFullPath(settings.OutputFile)} and {overlay}");
        }
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera sam auto</c>.</summary>
internal sealed class SamAutoSettings : SamImageSettings, IShardSettings
{
    [CommandOption("--output <DIR>"), Description("With --image: the folder for masks/NNN.png, overlay.png and masks.json (RLEs, scores, boxes); default sam-auto. With --input: per image NAME a folder NAME/ of mask PNGs with metadata.csv (or NAME.json with --convert-to-rle), a manifest and a summary; images already done are skipped.")] public string? Output { get; init; }
    [CommandOption("-o|--out <DIR>", IsHidden = true), Description("The former name of --output.")] public string? Out { get; init; }
    [CommandOption("--points-per-side <N>"), Description("Point grid N × N. Default 32")] public int PointsPerSide { get; init; } = 32;
    [CommandOption("--points-per-batch <N>"), Description("Prompts decoded at once. Default 64")] public int PointsPerBatch { get; init; } = 64;
    [CommandOption("--pred-iou-thresh <T>"), Description("Keep masks with predicted IoU above T. Default 0.88 (SAM 2: 0.8, its official default)")] public double? PredIouThresh { get; init; }
    [CommandOption("--mask-threshold <T>"), Description("SAM 2: the logit threshold of a mask pixel. Default 0")] public double? MaskThreshold { get; init; }
    [CommandOption("--m2m"), Description("SAM 2: refine each mask once from its own low-resolution logits (the official use_m2m).")] public bool M2M { get; init; }
    [CommandOption("--single-mask"), Description("SAM 2: one mask per point instead of three (the official multimask_output=False).")] public bool SingleMask { get; init; }
    [CommandOption("--stability-thresh <T>"), Description("Keep masks with stability score at least T. Default 0.95")] public double StabilityThresh { get; init; } = 0.95;
    [CommandOption("--box-nms-thresh <T>"), Description("Box IoU for duplicate removal. Default 0.7")] public double BoxNmsThresh { get; init; } = 0.7;
    [CommandOption("--crop-layers <N>"), Description("Extra layers of overlapping crops. Default 0")] public int CropLayers { get; init; }
    [CommandOption("--min-region-area <PX>"), Description("Remove holes and islands smaller than this. Default 0 (off)")] public int MinRegionArea { get; init; }
    [CommandOption("--output-mode <MODE>"), Description("Segmentations in masks.json: coco_rle (default), uncompressed_rle, or binary_mask (PNGs only)")] public string OutputMode { get; init; } = "coco_rle";
    [CommandOption("--input <DIR|FILE>"), Description("Batch mode (as the official scripts/amg.py): every image of a folder, or one file; needs --output.")] public string? Input { get; init; }
    [CommandOption("--convert-to-rle"), Description("Batch mode: one JSON per image with SA-1B's annotation fields (COCO RLE segmentations).")] public bool ConvertToRle { get; init; }
    [CommandOption("--shard <I/N>"), Description("Batch mode: process shard I of N (images sorted by name, dealt round-robin). Default: from JOB_COMPLETION_INDEX with --shard-count, or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT; else everything.")] public string? Shard { get; init; }
    [CommandOption("--shard-count <N>"), Description("Batch mode: the number of shards of a Kubernetes Indexed Job (its completions).")] public int? ShardCount { get; init; }
    [CommandOption("--manifest", IsHidden = true), Description("Batch mode: the manifest is always written now; accepted for old scripts.")] public bool Manifest { get; init; }
    [CommandOption("--check-manifest"), Description("Check that the manifests in --output cover every image of --input exactly once with all outputs present; exit 0 complete, 1 with the problems listed.")] public bool CheckManifest { get; init; }

    /// <summary>Whether this is the batch mode over --input.</summary>
    internal bool Batch => Input is not null || CheckManifest;

    /// <summary>The output folder: --output (or its former name -o/--out); sam-auto for one --image.</summary>
    internal string? OutputFolder => Output ?? Out ?? (Batch ? null : "sam-auto");

    /// <summary>The segmentation format of masks.json (--output-mode).</summary>
    internal MaskJsonFormat Format() => EnumNames.Parse<MaskJsonFormat>("format", OutputMode, "output mode");

    protected override bool NeedsImage => !Batch;

    protected override bool NeedsCheckpoint => !CheckManifest;

    public override ValidationResult Validate()
    {
        if (PointsPerSide < 1) return ValidationResult.Error($"--points-per-side: {PointsPerSide} must be at least 1");
        if (PointsPerBatch < 1) return ValidationResult.Error($"--points-per-batch: {PointsPerBatch} must be at least 1");
        if (CropLayers < 0) return ValidationResult.Error($"--crop-layers: {CropLayers} is negative");
        if (PredIouThresh is { } iou && !double.IsFinite(iou)) return ValidationResult.Error($"--pred-iou-thresh: {iou}; expected a number");
        if (MaskThreshold is { } mt && !double.IsFinite(mt)) return ValidationResult.Error($"--mask-threshold: {mt}; expected a number");
        if (!(StabilityThresh >= 0 && StabilityThresh <= 1)) return ValidationResult.Error($"--stability-thresh: {StabilityThresh}; expected a number in [0, 1]");
        if (!(BoxNmsThresh >= 0 && BoxNmsThresh <= 1)) return ValidationResult.Error($"--box-nms-thresh: {BoxNmsThresh}; expected a number in [0, 1]");
        if (MinRegionArea < 0) return ValidationResult.Error($"--min-region-area: {MinRegionArea} is negative");
        if (Output is not null && Out is not null) return ValidationResult.Error(OutputGivenTwice);
        if (Batch && (Input is null || OutputFolder is null)) return ValidationResult.Error("--input and --output go together (batch mode)");
        if (Batch && Image is not null) return ValidationResult.Error("--image is the single-image mode; use --input for a folder or a file");
        if (!Batch && (ConvertToRle || Shard is not null || ShardCount is not null || Manifest))
            return ValidationResult.Error("--convert-to-rle, --shard, --shard-count and --manifest need --input and --output");
        if (ShardCount is < 1) return ValidationResult.Error($"--shard-count: {ShardCount} must be at least 1");
        if (!EnumNames.TryParse<MaskJsonFormat>(OutputMode, out _))
            return ValidationResult.Error($"--output-mode: '{OutputMode}' is not one of {string.Join(", ", EnumNames.Names<MaskJsonFormat>())}");
        return base.Validate();
    }
}

/// <summary><c>tessera sam auto</c>.</summary>
internal sealed class SamAutoCommand : TesseraCommand<SamAutoSettings>
{
    public override int Execute(CommandContext context, SamAutoSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        if (settings.Batch) return RunBatch(settings, device, cancellation);
        string output = Path.GetFullPath(settings.OutputFolder!);
        if (File.Exists(output)) throw new TesseraUserException($"--output: '{settings.OutputFolder}' is a file; expected a folder");
        var format = settings.Format();
        var (loaded, rgb) = settings.Open(device, Ui);
        using (loaded)
        using (rgb)
        {
            var generator = new AutomaticMaskGenerator(loaded.Predictor, Options(settings, loaded.Predictor));
            var masks = Ui.WithProgress("generating masks", 1000, "‰", report =>
                generator.Generate(rgb, new Reporter<double>(f => report((long)(f * 1000), null)), cancellation));
            AutomaticMasksFolder.Write(output, rgb, masks, format);
            Ui.Result($"{masks.Count} masks; wrote {Path.Combine(output, "masks.json")}, overlay.png and masks/");
        }
        return Program.Ok;
    }

    // The generator's settings for the family of the loaded model: SAM 2's own defaults (predicted-IoU threshold 0.8) and
    // options; SAM 2 leaves small regions as its official generator does without the CUDA extension (said once here).
    private AmgOptions Options(SamAutoSettings settings, ISamPredictor predictor)
    {
        bool sam2 = predictor.Family == SamFamily.Sam2;
        if (!sam2 && (settings.MaskThreshold is not null || settings.M2M || settings.SingleMask))
            throw new TesseraUserException("--mask-threshold, --m2m and --single-mask are SAM 2's generator settings; this is a SAM or MobileSAM checkpoint");
        if (sam2 && settings.MinRegionArea > 0)
            Ui.Result("note: with SAM 2, --min-region-area is skipped, as the official SAM 2 generator skips it without its CUDA extension");
        var defaults = sam2 ? AmgOptions.Sam2Defaults : new AmgOptions();
        return defaults with
        {
            PointsPerSide = settings.PointsPerSide,
            PointsPerBatch = settings.PointsPerBatch,
            PredIouThreshold = settings.PredIouThresh ?? defaults.PredIouThreshold,
            StabilityScoreThreshold = settings.StabilityThresh,
            BoxNmsThreshold = settings.BoxNmsThresh,
            CropLayers = settings.CropLayers,
            MinMaskRegionArea = settings.MinRegionArea,
            MaskThreshold = settings.MaskThreshold ?? defaults.MaskThreshold,
            MultimaskOutput = !settings.SingleMask,
            UseM2M = settings.M2M,
        };
    }

    /// <summary>The official amg.py over a folder or one shard of it (<see cref="AutomaticMaskRun"/>), or the completeness check of its manifests.</summary>
    private int RunBatch(SamAutoSettings settings, torch.Device device, CancellationToken cancellation)
    {
        string output = Path.GetFullPath(settings.OutputFolder!);
        if (File.Exists(output)) throw new TesseraUserException($"--output: '{settings.OutputFolder}' is a file; expected a folder");
        var targets = AutomaticMaskRun.Targets(settings.Input!);
        if (settings.CheckManifest)
        {
            var problems = ShardManifest.Check(output, targets.Select(t => Path.GetFileName(t)).ToList());
            foreach (var p in problems) Ui.Result(p);
            Ui.Result(problems.Count == 0 ? $"complete: {targets.Count} images, every one produced by exactly one shard with all its outputs" : $"incomplete: {problems.Count} problems");
            return problems.Count == 0 ? Program.Ok : Program.RuntimeFailure;
        }
        var shard = Shard.Resolve(settings.Shard, settings.ShardCount);
        int mine = shard.Select(targets).Count();
        Ui.Result($"{shard.Describe()}: {mine} of {targets.Count} images");
        Directory.CreateDirectory(output);
        using var loaded = settings.LoadPredictor(device);
        var run = new AutomaticMaskRun(new AutomaticMaskGenerator(loaded.Predictor, Options(settings, loaded.Predictor)), settings.ConvertToRle ? AmgOutput.CocoRleJson : AmgOutput.PngFolder);
        var (summary, masks) = Ui.WithProgress("automatic masks", mine, "img", report =>
            run.Run(targets, output, shard, new Reporter<AmgRunProgress>(p => report(p.Handled, null)), cancellation));
        foreach (var (name, why) in summary.Failed) Ui.Result($"failed: {name}: {why}");
        Ui.Result($"{summary.Done} images done ({masks} masks), {summary.Skipped} already there, {summary.Failed.Count} failed, in {summary.Seconds:0.0} s; wrote {output}");
        return summary.Failed.Count == 0 ? Program.Ok : Program.RuntimeFailure;
    }
}

/// <summary>Options of <c>tessera sam train</c>.</summary>
public sealed class SamTrainSettings : TrainingSettings
{
    protected override TrainingOptions Defaults => OnDataset ? SamDatasetTrainOptions.DefaultTraining : SamTrainOptions.DefaultTraining;

    protected override string DefaultOut => "runs/sam";

    [CommandOption("--init <CKPT>"), Description("Start from a SAM checkpoint (official .pth or Tessera .safetensors) instead of a small model from scratch; with --dataset also MobileSAM or SAM 2 / SAM 2.1 (sam2.1_hiera_*.pt, fine-tuned into model.pt in the official layout).")] public string? Init { get; init; }
    [CommandOption("--freeze-encoder"), Description("Keep the image encoder's weights fixed (fine-tuning a loaded checkpoint); with --dataset its embeddings may be cached.")] public bool FreezeEncoder { get; init; }
    [CommandOption("--dataset <FORMAT>"), Description("scenes (Fashion-MNIST scenes, default), or fine-tuning --init on your annotated images: coco, labelme or folder (see docs/sam.md).")] public string Dataset { get; init; } = "scenes";
    [CommandOption("--data-root <DIR>"), Description("The dataset's folder (COCO: annotations/instances_SPLIT.json and SPLIT/; labelme: the JSON files; folder: images/ and instances/).")] public string? DataRoot { get; init; }
    [CommandOption("--split <NAME>"), Description("COCO split. Default train2017")] public string Split { get; init; } = "train2017";
    [CommandOption("--embedding-cache <DIR>"), Description("With --freeze-encoder: cache image embeddings in DIR (keyed by image content and checkpoint), so later epochs never run the encoder.")] public string? EmbeddingCache { get; init; }
    [CommandOption("--cache-dtype <TYPE>"), Description("float32 (default; training identical to no cache) or float16 (half the disk).")] public string CacheDtype { get; init; } = "float32";
    [CommandOption("--train <PART>"), Description("With --dataset: prompt (prompt encoder), decoder (prompt encoder and mask decoder, default) or all (the whole model).")] public string TrainPart { get; init; } = "decoder";
    [CommandOption("--lora-rank <R>"), Description("With --dataset: low-rank adapters of rank R on the encoder's attention projections, saved as lora.safetensors beside model.safetensors (give it to sam segment/auto/eval with --lora). Default 0 (none)")] public int LoraRank { get; init; }

    /// <summary>Whether this run fine-tunes on an annotated dataset rather than on scenes.</summary>
    internal bool OnDataset => Dataset is not "scenes";

    [CommandOption("--width <W>"), Description("Encoder and prompt width of the from-scratch model (a multiple of 64). Default 128")] public int Width { get; init; } = 128;
    [CommandOption("--depth <N>"), Description("Encoder blocks of the from-scratch model (a multiple of 2). Default 4")] public int Depth { get; init; } = 4;
    [CommandOption("--canvas <PX>"), Description("Scene canvas side. Default 64")] public int Canvas { get; init; } = 64;
    [CommandOption("--rounds <N>"), Description("Prompting rounds per object and step (first prompt, then error-region clicks). Default 4")] public int Rounds { get; init; } = 4;
    [CommandOption("--eval-scenes <N>"), Description("Validation scenes for the click protocol. Default 64")] public int EvalScenes { get; init; } = 64;

    public override ValidationResult Validate()
    {
        if (Width < 64 || Width % 64 != 0) return ValidationResult.Error($"--width: {Width} is not a positive multiple of 64");
        if (Depth < 2 || Depth % 2 != 0) return ValidationResult.Error($"--depth: {Depth} is not a positive multiple of 2");
        if (Rounds < 1 || EvalScenes < 1) return ValidationResult.Error("--rounds and --eval-scenes must be at least 1");
        if (Canvas < 32) return ValidationResult.Error($"--canvas: {Canvas} is below 32");
        if (FreezeEncoder && Init is null) return ValidationResult.Error("--freeze-encoder needs --init CKPT (a random encoder would stay random)");
        if (SamEvalSettings.DatasetError(Dataset) is { } error) return error;
        if (OnDataset && Init is null) return ValidationResult.Error($"--dataset {Dataset} fine-tunes a checkpoint: give --init CKPT");
        if (OnDataset && DataRoot is null) return ValidationResult.Error($"--dataset {Dataset} needs --data-root DIR");
        if (!OnDataset && (DataRoot is not null || EmbeddingCache is not null || LoraRank != 0 || TrainPart != "decoder"))
            return ValidationResult.Error("--data-root, --embedding-cache, --train and --lora-rank go with --dataset coco|labelme|folder");
        if (OptionChoices.Check<EmbeddingPrecision>("--cache-dtype", CacheDtype, "cache type") is { Successful: false } bad) return bad;
        if (OptionChoices.Check<SamTrainedPart>("--train", TrainPart, "trained part") is { Successful: false } badPart) return badPart;
        if (LoraRank < 0) return ValidationResult.Error($"--lora-rank: {LoraRank} is negative");
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

    internal SamDatasetTrainOptions DatasetOptions() => new()
    {
        Init = Init!,
        Format = SamEvalSettings.Format(Dataset)!.Value,
        Root = DataRoot!,
        Split = Split,
        FreezeEncoder = FreezeEncoder,
        EmbeddingCache = EmbeddingCache,
        CachePrecision = EnumNames.Parse<EmbeddingPrecision>(nameof(SamDatasetTrainOptions.CachePrecision), CacheDtype, "cache type"),
        Train = EnumNames.Parse<SamTrainedPart>(nameof(SamDatasetTrainOptions.Train), TrainPart, "trained part"),
        LoraRank = LoraRank,
        Training = Training(),
        Rounds = Rounds,
    };
}

/// <summary><c>tessera sam train</c>.</summary>
public sealed class SamTrainCommand : TesseraCommand<SamTrainSettings>
{
    public override int Execute(CommandContext context, SamTrainSettings settings, CancellationToken cancellation)
    {
        var (communicator, device) = Ranks.Join(Ui, settings.Apply());
        if (settings.OnDataset) return FineTune(settings, device, communicator, cancellation);
        if (settings.Init is not null && SamCheckpoints.Detect(settings.Init) == SamFamily.Sam2)
            throw new TesseraUserException("--init: a SAM 2 checkpoint is fine-tuned on annotated images (--dataset coco|labelme|folder --data-root DIR); the Fashion-MNIST scene training takes SAM and MobileSAM");
        var options = settings.Options();
        var trainer = new SamTrainer(options, device, communicator);
        var result = Ui.Training("training SAM", options.Training.Steps, progress => trainer.Train(settings.Out, settings.Resume, progress, cancellation));
        if (Ranks.IsFollower) return Program.Ok;
        if (result is null) return settings.Stopped(Ui);
        SamEvalCommand.Print(Ui, result);
        Ui.Result($"run folder {Path.GetFullPath(settings.Out)} (model.safetensors, checkpoint.safetensors, loss.png, clicks.json)");
        return Program.Ok;
    }

    private int FineTune(SamTrainSettings settings, torch.Device device, ICommunicator communicator, CancellationToken cancellation)
    {
        var options = settings.DatasetOptions();
        string modelFile = SamFineTuning.ModelFile(options.Init);
        if (modelFile == "model.pt" && options.LoraRank > 0)
            throw new TesseraUserException("--lora-rank: adapters are for SAM and MobileSAM image encoders (ViT, TinyViT); SAM 2's Hiera encoder takes none");
        var trainer = SamFineTuning.Create(options, device, communicator);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = Ui.Training($"fine-tuning SAM on {settings.Dataset}", options.Training.Steps, progress => trainer.Train(settings.Out, settings.Resume, progress, cancellation));
        if (Ranks.IsFollower) return Program.Ok;
        double seconds = clock.Elapsed.TotalSeconds;
        string run = Path.GetFullPath(settings.Out);
        if (trainer.Cache is { } cache) Ui.Result($"embedding cache: {cache.Hits} read, {cache.Misses} computed");
        if (result.Stopped)
        {
            Ui.Result($"stopped at step {result.Step} with a checkpoint in {run}; continue with --resume");
            return Program.Ok;
        }
        Ui.Result($"{result.Step} steps in {seconds:0.0} s, last loss {result.LastLoss:0.0000}; run folder {run} ({modelFile}{(options.LoraRank > 0 ? ", lora.safetensors" : "")}, checkpoint.safetensors, loss.png)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera sam eval</c>.</summary>
internal sealed class SamEvalSettings : DataSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("SAM weights: official SAM .pth, MobileSAM mobile_sam.pt or SAM 2 / SAM 2.1 sam2.1_hiera_*.pt (coco, labelme or folder datasets), or model.safetensors / model.pt of tessera sam train.")] public string? Checkpoint { get; init; }
    [CommandOption("--scenes <N>"), Description("Validation scenes (Fashion-MNIST test items). Default 128")] public int Scenes { get; init; } = 128;
    [CommandOption("--clicks <N>"), Description("Clicks per object. Default 5")] public int Clicks { get; init; } = 5;
    [CommandOption("--canvas <PX>"), Description("Scene canvas side. Default 64")] public int Canvas { get; init; } = 64;
    [CommandOption("--no-mask-feedback"), Description("Do not give the previous mask logits back with each new click (points only)")] public bool NoMaskFeedback { get; init; }
    [CommandOption("--dataset <FORMAT>"), Description("scenes (Fashion-MNIST scenes, default), or your annotated images: coco, labelme or folder (with --data-root).")] public string Dataset { get; init; } = "scenes";
    [CommandOption("--data-root <DIR>"), Description("The dataset's folder (see docs/sam.md).")] public string? DataRoot { get; init; }
    [CommandOption("--split <NAME>"), Description("COCO split. Default val2017")] public string Split { get; init; } = "val2017";
    [CommandOption("--lora <FILE>"), Description("Adapters of tessera sam train --lora-rank, merged into the checkpoint on load.")] public string? Lora { get; init; }
    [CommandOption("--json <FILE>"), Description("Also write the scores as JSON (mIoU by clicks and box mIoU, overall and per COCO size).")] public string? Json { get; init; }

    /// <summary>The name of --dataset for the Fashion-MNIST scenes (every other name is an <see cref="InstanceDatasetFormat"/>).</summary>
    internal const string ScenesName = "scenes";

    /// <summary>The instance format of a --dataset name; null for the scenes.</summary>
    internal static InstanceDatasetFormat? Format(string name) =>
        name == ScenesName ? null : EnumNames.Parse<InstanceDatasetFormat>("dataset", name, "dataset format");

    /// <summary>The usage error of a --dataset name that is neither the scenes nor an instance format; null when it is one.</summary>
    internal static ValidationResult? DatasetError(string name) =>
        name == ScenesName || EnumNames.TryParse<InstanceDatasetFormat>(name, out _) ? null
            : ValidationResult.Error($"--dataset: '{name}' is not one of {ScenesName}, {string.Join(", ", EnumNames.Names<InstanceDatasetFormat>())}");

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (Scenes < 1 || Clicks < 1) return ValidationResult.Error("--scenes and --clicks must be at least 1");
        if (Canvas < 32) return ValidationResult.Error($"--canvas: {Canvas} is below 32");
        if (DatasetError(Dataset) is { } error) return error;
        if ((Dataset == "scenes") != (DataRoot is null)) return ValidationResult.Error(Dataset == "scenes" ? "--data-root goes with --dataset coco|labelme|folder" : $"--dataset {Dataset} needs --data-root DIR");
        if (Dataset == "scenes" && Json is not null) return ValidationResult.Error("--json goes with --dataset coco|labelme|folder");
        return base.Validate();
    }
}

/// <summary><c>tessera sam eval</c>: the SAM paper's click protocol on Fashion-MNIST scenes or an annotated instance dataset.</summary>
internal sealed class SamEvalCommand : TesseraCommand<SamEvalSettings>
{
    public override int Execute(CommandContext context, SamEvalSettings settings, CancellationToken cancellation)
    {
        // Under mpirun the scenes or images are split over the ranks and the sums merged exactly; rank 0 reports.
        var (communicator, device) = Ranks.Join(Ui, settings.Apply());
        var data = settings.DataRoot is null ? null : InstanceDataset.Open(SamEvalSettings.Format(settings.Dataset)!.Value, settings.DataRoot, settings.Split);
        if (SamCheckpoints.Detect(settings.Checkpoint!) == SamFamily.Sam2)
        {
            if (data is null) throw new TesseraUserException("--dataset scenes: the Fashion-MNIST scene protocol takes SAM and MobileSAM checkpoints; score a SAM 2 checkpoint on annotated images (--dataset coco|labelme|folder --data-root DIR)");
            if (settings.Lora is not null) throw new TesseraUserException("--lora: adapters are for SAM and MobileSAM checkpoints; this is a SAM 2 checkpoint");
            using var sam2 = SamCheckpoints.Open(settings.Checkpoint!, device);
            return EvaluateDataset(settings, sam2.Predictor, data, communicator, cancellation);
        }
        using var model = SamCommandModel.Load(settings.Checkpoint!, settings.Lora, device);
        if (data is not null)
        {
            model.eval();
            using var predictor = new SamPredictor(model);
            return EvaluateDataset(settings, predictor, data, communicator, cancellation);
        }
        var result = Ui.WithProgress("click protocol", 1, "runs", report =>
        {
            var r = SamTrainer.Evaluate(model, new Segmentation.Data.SceneOptions(Canvas: settings.Canvas), settings.Scenes, settings.Clicks, settings.Data, feedMask: !settings.NoMaskFeedback,
                communicator: communicator);
            report(1, null);
            return r;
        });
        if (Ranks.IsFollower) return Program.Ok;
        Print(Ui, result);
        return Program.Ok;
    }

    private int EvaluateDataset(SamEvalSettings settings, ISamPredictor predictor, InstanceDataset data, ICommunicator communicator, CancellationToken cancellation)
    {
        int mine = (data.Count - communicator.Rank + communicator.Size - 1) / communicator.Size;
        var scores = Ui.WithProgress($"click protocol on {data.Count} images", mine, "img",
            report => SamDatasetEvaluation.Evaluate(predictor, data, settings.Clicks, 1, Ui.Counter(report), cancellation, communicator));
        if (Ranks.IsFollower) return Program.Ok;
        var table = new Table().AddColumn("objects").AddColumn(new TableColumn("n").RightAligned());
        for (int k = 0; k < settings.Clicks; k++) table.AddColumn(new TableColumn($"mIoU@{k + 1}").RightAligned());
        table.AddColumn(new TableColumn("box mIoU").RightAligned());
        void Row(string name, SamPromptScores s) => table.AddRow([name, s.Objects.ToString(CultureInfo.InvariantCulture),
            .. s.MIoUByClicks.Select(v => (100 * v).ToString("0.0", CultureInfo.InvariantCulture)), (100 * s.BoxMIoU).ToString("0.0", CultureInfo.InvariantCulture)]);
        Row("all", scores.All);
        foreach (var (size, s) in scores.BySize) Row(size, s);
        Ui.Console.Write(table);
        if (settings.Json is not null)
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(settings.Json));
            if (dir is not null) Directory.CreateDirectory(dir);
            AtomicFile.WriteAllText(settings.Json, JsonSerializer.Serialize(scores, new JsonSerializerOptions { WriteIndented = true }));
        }
        Ui.Result($"{scores.All.Objects} objects in {scores.Images} images; mIoU after 1 click {100 * scores.All.MIoUByClicks[0]:0.0}, after {settings.Clicks} {100 * scores.All.MIoUByClicks[^1]:0.0}; box {100 * scores.All.BoxMIoU:0.0}"
            + (settings.Json is null ? "" : $"; wrote {Path.GetFullPath(settings.Json)}"));
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
