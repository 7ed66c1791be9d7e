using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using Tessera.Cli.Infrastructure;
using Tessera.Data;
using Tessera.Diffusion;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion train</c>.</summary>
public sealed class DiffusionTrainSettings : DataSettings
{
    /// <summary>--out</summary>
    [CommandOption("-o|--out <DIR>")]
    [Description("Run folder (checkpoint.safetensors, curve.csv, loss.png, grid.png, samples/). Default runs/diffusion")]
    public string Out { get; init; } = "runs/diffusion";

    /// <summary>--net</summary>
    [CommandOption("--net <NAME>")]
    [Description("unet (DDPM family) or dit (Diffusion Transformer with adaLN-Zero). Default unet")]
    public string Net { get; init; } = "unet";

    /// <summary>--formulation</summary>
    [CommandOption("--formulation <NAME>")]
    [Description("edm, vp, ve or flow. Default edm")]
    public string Formulation { get; init; } = "edm";

    /// <summary>--channels</summary>
    [CommandOption("--base-channels <N>")]
    [Description("U-Net channels at full resolution (a multiple of 16). Default 32")]
    public int BaseChannels { get; init; } = 32;

    /// <summary>--multipliers</summary>
    [CommandOption("--multipliers <LIST>")]
    [Description("U-Net channel multipliers per level, comma-separated. Default 1,2,4")]
    public string Multipliers { get; init; } = "1,2,4";

    /// <summary>--attention</summary>
    [CommandOption("--attention <LIST>")]
    [Description("U-Net resolutions with self-attention, comma-separated. Default 7")]
    public string Attention { get; init; } = "7";

    /// <summary>--noise-embedding</summary>
    [CommandOption("--noise-embedding <KIND>")]
    [Description("U-Net noise-level embedding: sinusoidal or fourier (random Fourier features, scale 16). Default sinusoidal")]
    public string NoiseEmbedding { get; init; } = "sinusoidal";

    /// <summary>--dropout</summary>
    [CommandOption("--dropout <P>")]
    [Description("U-Net dropout. Default 0")]
    public double Dropout { get; init; }

    /// <summary>--hidden</summary>
    [CommandOption("--hidden <D>")]
    [Description("DiT width. Default 256")]
    public int Hidden { get; init; } = 256;

    /// <summary>--depth</summary>
    [CommandOption("--depth <N>")]
    [Description("DiT blocks. Default 6")]
    public int Depth { get; init; } = 6;

    /// <summary>--patch</summary>
    [CommandOption("--patch <P>")]
    [Description("DiT patch size. Default 2")]
    public int Patch { get; init; } = 2;

    /// <summary>--position</summary>
    [CommandOption("--position <KIND>")]
    [Description("DiT positions: rope (2-D RoPE) or sincos (fixed table). Default rope")]
    public string Position { get; init; } = "rope";

    /// <summary>--conditional</summary>
    [CommandOption("--conditional")]
    [Description("Class-conditional (labels from Fashion-MNIST or the image folder's sub-folders), with label dropout for guidance")]
    public bool Conditional { get; init; }

    /// <summary>--images</summary>
    [CommandOption("--images <DIR>")]
    [Description("Train on a folder of images instead of Fashion-MNIST")]
    public string? Images { get; init; }

    /// <summary>--size</summary>
    [CommandOption("--size <PX>")]
    [Description("Image side. Default 28")]
    public int Size { get; init; } = 28;

    /// <summary>--gray</summary>
    [CommandOption("--rgb")]
    [Description("Three channels (image folders); default one (gray)")]
    public bool Rgb { get; init; }

    /// <summary>--resize</summary>
    [CommandOption("--resize <MODE>")]
    [Description("Folder images of other sizes: crop (scale and centre-crop), stretch, or none (refuse them). Default none")]
    public string Resize { get; init; } = "none";

    /// <summary>--steps</summary>
    [CommandOption("--steps <N>")]
    [Description("Optimiser steps. Default 20000")]
    public int Steps { get; init; } = 20_000;

    /// <summary>--batch</summary>
    [CommandOption("--batch <N>")]
    [Description("Images per step. Default 64")]
    public int Batch { get; init; } = 64;

    /// <summary>--lr</summary>
    [CommandOption("--lr <LR>")]
    [Description("Adam learning rate. Default 0.0002")]
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>--warmup</summary>
    [CommandOption("--warmup <N>")]
    [Description("Warm-up steps. Default 500")]
    public int Warmup { get; init; } = 500;

    /// <summary>--ema-halflife</summary>
    [CommandOption("--ema-halflife <KIMG>")]
    [Description("EMA half-life in thousands of images (with EDM's ramp-up). Default 50")]
    public double EmaHalfLife { get; init; } = 50;

    /// <summary>--limit</summary>
    [CommandOption("--limit <N>")]
    [Description("Use only the first N training images")]
    public int Limit { get; init; }

    /// <summary>--checkpoint-every</summary>
    [CommandOption("--checkpoint-every <N>")]
    [Description("Checkpoint every N steps. Default 1000")]
    public int CheckpointEvery { get; init; } = 1000;

    /// <summary>--sample-every</summary>
    [CommandOption("--sample-every <N>")]
    [Description("Sample grid every N steps (0: only at the end). Default 2000")]
    public int SampleEvery { get; init; } = 2000;

    /// <summary>--stop-at</summary>
    [CommandOption("--stop-at <STEP>")]
    [Description("Stop after this step with a checkpoint, as an interrupted run would")]
    public int StopAt { get; init; }

    /// <summary>--resume</summary>
    [CommandOption("--resume")]
    [Description("Continue the run in --out from its checkpoint")]
    public bool Resume { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (Net is not ("unet" or "dit")) return ValidationResult.Error($"--net: '{Net}' is not unet or dit");
        if (Formulation is not ("edm" or "vp" or "ve" or "flow")) return ValidationResult.Error($"--formulation: '{Formulation}' is not edm, vp, ve or flow");
        if (Position is not ("rope" or "sincos")) return ValidationResult.Error($"--position: '{Position}' is not rope or sincos");
        if (NoiseEmbedding is not ("sinusoidal" or "fourier")) return ValidationResult.Error($"--noise-embedding: '{NoiseEmbedding}' is not sinusoidal or fourier");
        if (Resize is not ("none" or "crop" or "stretch")) return ValidationResult.Error($"--resize: '{Resize}' is not none, crop or stretch");
        if (BaseChannels < 16 || BaseChannels % 16 != 0) return ValidationResult.Error($"--base-channels: {BaseChannels} is not a positive multiple of 16");
        if (Steps < 1 || Batch < 1 || Warmup < 0 || CheckpointEvery < 1 || SampleEvery < 0) return ValidationResult.Error("--steps, --batch and --checkpoint-every must be at least 1; --warmup and --sample-every not negative");
        if (Size < 8) return ValidationResult.Error($"--size: {Size} is below 8");
        return base.Validate();
    }

    internal DiffusionTrainOptions Options()
    {
        int channels = Rgb ? 3 : 1, classes = Conditional ? (Images is null ? 10 : -1) : 0;
        if (classes < 0)
        {
            var folder = new ImageFolder(Images!, new ImageFolderOptions(Size, Rgb ? ColorMode.Rgb : ColorMode.Gray));
            classes = Math.Max(1, folder.Classes.Count);
        }
        var formulation = Enum.Parse<Formulation>(Formulation, ignoreCase: true);
        var config = Net == "dit"
            ? new DiffusionModelConfig("dit", DiT: DiTConfig.FromWidth(channels, Size, Patch, Hidden, Depth, classes, Position == "rope" ? DiTPosition.Rope2D : DiTPosition.SinCos), Formulation: formulation)
            : new DiffusionModelConfig("unet", UNet: UNetConfig.FromWidth(channels, Size, BaseChannels, ListOption.Ints("--multipliers", Multipliers), ListOption.Ints("--attention", Attention), Dropout, classes, NoiseEmbedding == "fourier"), Formulation: formulation);
        return new DiffusionTrainOptions
        {
            Model = config,
            Steps = Steps,
            Batch = Batch,
            LearningRate = LearningRate,
            WarmupSteps = Warmup,
            EmaHalfLifeKimg = EmaHalfLife,
            CheckpointEvery = CheckpointEvery,
            SampleEvery = SampleEvery,
            Seed = Seed,
            Data = Data,
            ImageFolder = Images,
            Fit = Resize switch { "crop" => FitMode.ResizeAndCrop, "stretch" => FitMode.Stretch, _ => FitMode.Exact },
            Limit = Limit,
            StopAt = StopAt,
        };
    }
}

/// <summary><c>tessera diffusion train</c>.</summary>
public sealed class DiffusionTrainCommand : TesseraCommand<DiffusionTrainSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, DiffusionTrainSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var options = settings.Options();
        var trainer = new DiffusionTrainer(options, device);
        double loss = Ui.WithProgress($"training {options.Model.Kind} ({options.Model.Formulation})", options.Steps, "steps",
            report => trainer.Train(settings.Out, settings.Resume, (step, l, status) => report(step, status ?? $"loss {l:0.0000}"), cancellation));
        Ui.Result($"final loss {loss:0.0000}; run folder {Path.GetFullPath(settings.Out)} (checkpoint.safetensors, loss.png, grid.png)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera diffusion sample</c>.</summary>
internal sealed class DiffusionSampleSettings : GlobalSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("checkpoint.safetensors of tessera diffusion train (its EMA weights are used)")] public string? Checkpoint { get; init; }
    [CommandOption("--sampler <NAME>"), Description("Any sampler of the framework (euler, heun, dpmpp_2m, edm_stochastic, …). Default heun")] public string Sampler { get; init; } = "heun";
    [CommandOption("--steps <N>"), Description("Noise levels of the Karras grid (Heun uses 2N − 1 evaluations). Default 18")] public int Steps { get; init; } = 18;
    [CommandOption("-n|--count <N>"), Description("Samples. Default 64")] public int Count { get; init; } = 64;
    [CommandOption("--batch <N>"), Description("Samples per batch (results do not depend on it: every sample has its own seed). Default 64")] public int Batch { get; init; } = 64;
    [CommandOption("--class <LIST>"), Description("Class labels, comma-separated, cycled over the samples (conditional models); default: all classes in turn")] public string? Classes { get; init; }
    [CommandOption("--guidance <W>"), Description("Classifier-free guidance scale (1: none). Default 1")] public double Guidance { get; init; } = 1;
    [CommandOption("-o|--out <FILE>"), Description("PNG grid. Default samples.png")] public string Out { get; init; } = "samples.png";
    [CommandOption("--out-dir <DIR>"), Description("Also write one PNG per sample here")] public string? OutDir { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (!SamplerRegistry.Exists(Sampler)) return ValidationResult.Error($"--sampler: unknown '{Sampler}'; expected one of {string.Join(", ", SamplerRegistry.Names)}");
        if (Steps < 1 || Count < 1 || Batch < 1) return ValidationResult.Error("--steps, --count and --batch must be at least 1");
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion sample</c>.</summary>
internal sealed class DiffusionSampleCommand : TesseraCommand<DiffusionSampleSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, DiffusionSampleSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        using var model = DiffusionModel.Load(settings.Checkpoint!);
        model.to(device);
        var options = new DiffusionSamplingOptions
        {
            Sampler = settings.Sampler,
            Steps = settings.Steps,
            Batch = settings.Batch,
            Classes = settings.Classes is null ? null : ListOption.TryInts(settings.Classes, min: 0) ?? throw new TesseraUserException(ListOption.Expected("--class", settings.Classes, min: 0)),
            Guidance = settings.Guidance,
        };
        var images = Ui.WithProgress($"sampling ({settings.Sampler}, {settings.Steps} steps)", settings.Count, "img",
            report => DiffusionSampling.Sample(model, DiffusionSampling.ConsecutiveSeeds(settings.Seed, settings.Count), options, device, n => report(n, null), cancellation));
        using (images)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(settings.Out))!;
            Directory.CreateDirectory(dir);
            ImageIO.SaveGrid(images, settings.Out, columns: (int)Math.Ceiling(Math.Sqrt(settings.Count)));
            if (settings.OutDir is not null)
            {
                Directory.CreateDirectory(settings.OutDir);
                for (int i = 0; i < settings.Count; i++) ImageIO.SavePng(images[i], Path.Combine(settings.OutDir, $"{i:D5}.png"));
            }
        }
        Ui.Result($"wrote {Path.GetFullPath(settings.Out)}" + (settings.OutDir is null ? "" : $" and {settings.Count} PNGs in {Path.GetFullPath(settings.OutDir)}"));
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera classifier train</c>.</summary>
public sealed class ClassifierTrainSettings : DataSettings
{
    /// <summary>--epochs</summary>
    [CommandOption("--epochs <N>")]
    [Description("Epochs over Fashion-MNIST's training split. Default 3")]
    public int Epochs { get; init; } = 3;

    /// <summary>--out</summary>
    [CommandOption("-o|--out <FILE>")]
    [Description("Where to save it. Default ~/.cache/tessera/fashion-classifier.safetensors (where diffusion eval looks)")]
    public string? Out { get; init; }

    /// <inheritdoc />
    public override ValidationResult Validate() => Epochs < 1 ? ValidationResult.Error($"--epochs: {Epochs} must be at least 1") : base.Validate();
}

/// <summary><c>tessera classifier train</c>.</summary>
public sealed class ClassifierTrainCommand : TesseraCommand<ClassifierTrainSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, ClassifierTrainSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        string path = settings.Out ?? Diffusion.Evaluation.FashionClassifier.DefaultPath;
        var (model, accuracy) = Ui.WithProgress("training the Fashion-MNIST classifier", 1000, "‰", report =>
            Diffusion.Evaluation.FashionClassifier.Train(path, settings.Epochs, settings.Seed, settings.Data, (done, total, status) => report(done * 1000 / total, status), device, cancellation));
        model.Dispose();
        Ui.Result($"test accuracy {100 * accuracy:0.00}%; saved {Path.GetFullPath(path)}");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera diffusion eval</c>.</summary>
internal sealed class DiffusionEvalSettings : DataSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("checkpoint.safetensors of tessera diffusion train (Fashion-MNIST-shaped: 28×28 gray)")] public string? Checkpoint { get; init; }
    [CommandOption("--classifier <FILE>"), Description("Classifier weights. Default ~/.cache/tessera/fashion-classifier.safetensors (tessera classifier train)")] public string? Classifier { get; init; }
    [CommandOption("--samplers <LIST>"), Description("Samplers, comma-separated. Default heun,dpmpp_2m,edm_stochastic")] public string Samplers { get; init; } = "heun,dpmpp_2m,edm_stochastic";
    [CommandOption("--steps <LIST>"), Description("Karras-grid sizes, comma-separated. Default 6,10,18")] public string Steps { get; init; } = "6,10,18";
    [CommandOption("-n|--count <N>"), Description("Generated and test images per row. Default 2000")] public int Count { get; init; } = 2000;
    [CommandOption("--guidance <W>"), Description("Classifier-free guidance scale for conditional models. Default 1")] public double Guidance { get; init; } = 1;

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        foreach (var s in ListOption.Items(Samplers))
            if (!SamplerRegistry.Exists(s)) return ValidationResult.Error($"--samplers: unknown '{s}'");
        if (Count < 2) return ValidationResult.Error("--count must be at least 2");
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion eval</c>.</summary>
internal sealed class DiffusionEvalCommand : TesseraCommand<DiffusionEvalSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, DiffusionEvalSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        using var model = DiffusionModel.Load(settings.Checkpoint!);
        model.to(device);
        using var classifier = Diffusion.Evaluation.FashionClassifier.Load(settings.Classifier ?? Diffusion.Evaluation.FashionClassifier.DefaultPath);
        classifier.to(device);
        var samplers = ListOption.Items(settings.Samplers);
        var steps = ListOption.Ints("--steps", settings.Steps);
        var rows = Ui.WithProgress("sampling and scoring", samplers.Length * steps.Length, "rows", report =>
        {
            int done = 0;
            return Diffusion.Evaluation.SampleQuality.Evaluate(model, classifier, samplers, steps, settings.Count, settings.Seed, settings.Guidance, settings.Data, device,
                onRow: r => report(++done, $"{r.Sampler} {r.Nfe} NFE"));
        });
        var table = new Table().AddColumn("sampler").AddColumn(new TableColumn("steps").RightAligned()).AddColumn(new TableColumn("NFE").RightAligned())
            .AddColumn(new TableColumn("Fréchet distance").RightAligned()).AddColumn(new TableColumn("class accuracy").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var r in rows)
            table.AddRow(r.Sampler, r.Steps.ToString(CultureInfo.InvariantCulture), r.Nfe.ToString(CultureInfo.InvariantCulture), r.FrechetDistance.ToString("0.000", CultureInfo.InvariantCulture),
                double.IsNaN(r.ClassAccuracy) ? "-" : (100 * r.ClassAccuracy).ToString("0.0", CultureInfo.InvariantCulture) + "%", r.Seconds.ToString("0", CultureInfo.InvariantCulture));
        Ui.Console.Write(table);
        foreach (var r in rows)
            Ui.Result($"{r.Sampler} steps {r.Steps} NFE {r.Nfe}: Fréchet distance {r.FrechetDistance:0.000}" + (double.IsNaN(r.ClassAccuracy) ? "" : $", class accuracy {100 * r.ClassAccuracy:0.0}%"));
        double floor = Diffusion.Evaluation.SampleQuality.ReferenceDistance(classifier, settings.Count, settings.Data, device);
        Ui.Result($"reference: {settings.Count} training images against {settings.Count} test images: Fréchet distance {floor:0.000} (the floor at this sample size)");
        return Program.Ok;
    }
}
