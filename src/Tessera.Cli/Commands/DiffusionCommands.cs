using Tessera.Diffusion;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;
using Tessera.Runtime;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion train</c>.</summary>
public sealed class DiffusionTrainSettings : TrainingSettings
{
    protected override TrainingOptions Defaults => DiffusionTrainOptions.DefaultTraining;

    protected override string DefaultOut => "runs/diffusion";

    [CommandOption("--net <NAME>"), Description("unet (DDPM family) or dit (Diffusion Transformer with adaLN-Zero). Default unet")] public string Net { get; init; } = "unet";
    [CommandOption("--formulation <NAME>"), Description("edm, vp, ve or flow. Default edm")] public string Formulation { get; init; } = "edm";
    [CommandOption("--base-channels <N>"), Description("U-Net channels at full resolution (a multiple of 16). Default 32")] public int BaseChannels { get; init; } = 32;
    [CommandOption("--multipliers <LIST>"), Description("U-Net channel multipliers per level, comma-separated. Default 1,2,4")] public string Multipliers { get; init; } = "1,2,4";
    [CommandOption("--attention <LIST>"), Description("U-Net resolutions with self-attention, comma-separated. Default 7")] public string Attention { get; init; } = "7";
    [CommandOption("--noise-embedding <KIND>"), Description("U-Net noise-level embedding: sinusoidal or fourier (random Fourier features, scale 16). Default sinusoidal")] public string NoiseEmbedding { get; init; } = "sinusoidal";
    [CommandOption("--dropout <P>"), Description("U-Net dropout. Default 0")] public double Dropout { get; init; }
    [CommandOption("--hidden <D>"), Description("DiT width. Default 256")] public int Hidden { get; init; } = 256;
    [CommandOption("--depth <N>"), Description("DiT blocks. Default 6")] public int Depth { get; init; } = 6;
    [CommandOption("--patch <P>"), Description("DiT patch size. Default 2")] public int Patch { get; init; } = 2;
    [CommandOption("--position <KIND>"), Description("DiT positions: rope (2-D RoPE) or sincos (fixed table). Default rope")] public string Position { get; init; } = "rope";
    [CommandOption("--conditional"), Description("Class-conditional (labels from Fashion-MNIST or the image folder's sub-folders), with label dropout for guidance")] public bool Conditional { get; init; }
    [CommandOption("--images <DIR>"), Description("Train on a folder of images instead of Fashion-MNIST")] public string? Images { get; init; }
    [CommandOption("--size <PX>"), Description("Image side. Default 28")] public int Size { get; init; } = 28;
    [CommandOption("--rgb"), Description("Three channels (image folders); default one (gray)")] public bool Rgb { get; init; }
    [CommandOption("--resize <MODE>"), Description("Folder images of other sizes: crop (scale and centre-crop), stretch, center-crop (no scaling), or none (refuse them). Default none")] public string Resize { get; init; } = "none";
    [CommandOption("--ema-halflife <KIMG>"), Description("EMA half-life in thousands of images (with EDM's ramp-up). Default 50")] public double EmaHalfLife { get; init; } = 50;
    [CommandOption("--limit <N>"), Description("Use only the first N training images")] public int Limit { get; init; }
    [CommandOption("--sample-every <N>"), Description("Sample grid every N steps (0: only at the end). Default 2000")] public int SampleEvery { get; init; } = 2000;


    public override ValidationResult Validate()
    {
        EnumNames.Parse<NetworkKind>("--net", Net, "network");
        EnumNames.Parse<Formulation>("--formulation", Formulation, "formulation");
        EnumNames.Parse<DiTPosition>("--position", Position, "position embedding");
        EnumNames.Parse<NoiseEmbedding>("--noise-embedding", NoiseEmbedding, "noise embedding");
        EnumNames.Parse<FitMode>("--resize", Resize, "resize mode");
        if (BaseChannels < 16 || BaseChannels % 16 != 0) return ValidationResult.Error($"--base-channels: {BaseChannels} is not a positive multiple of 16");
        if (SampleEvery < 0) return ValidationResult.Error($"--sample-every: {SampleEvery} is negative");
        if (Images is null && (Size != 28 || Rgb)) return ValidationResult.Error("--size/--rgb: Fashion-MNIST is 28×28 gray; use --size 28 without --rgb, or --images DIR");
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
        var formulation = EnumNames.Parse<Formulation>("--formulation", Formulation, "formulation");
        var position = EnumNames.Parse<DiTPosition>("--position", Position, "position embedding");
        bool fourier = EnumNames.Parse<NoiseEmbedding>("--noise-embedding", NoiseEmbedding, "noise embedding") == Diffusion.Networks.NoiseEmbedding.Fourier;
        var config = EnumNames.Parse<NetworkKind>("--net", Net, "network") == NetworkKind.DiT
            ? new DiffusionModelConfig(NetworkKind.DiT, DiT: DiTConfig.FromWidth(channels, Size, Patch, Hidden, Depth, classes, position), Formulation: formulation)
            : new DiffusionModelConfig(NetworkKind.UNet, UNet: UNetConfig.FromWidth(channels, Size, BaseChannels, ListOption.Ints("--multipliers", Multipliers), ListOption.Ints("--attention", Attention), Dropout, classes, fourier), Formulation: formulation);
        return new DiffusionTrainOptions
        {
            Model = config,
            Training = Training() with { SampleEvery = SampleEvery },
            EmaHalfLifeKimg = EmaHalfLife,
            Data = Data,
            ImageFolder = Images,
            Fit = EnumNames.Parse<FitMode>("--resize", Resize, "resize mode"),
            Limit = Limit,
        };
    }
}

/// <summary><c>tessera diffusion train</c>.</summary>
public sealed class DiffusionTrainCommand : TesseraCommand<DiffusionTrainSettings>
{
    public override int Execute(CommandContext context, DiffusionTrainSettings settings, CancellationToken cancellation)
    {
        var (communicator, device) = Ranks.Join(Ui, settings.Apply());
        var options = settings.Options();
        var trainer = new DiffusionTrainer(options, device, communicator);
        double loss = Ui.Training($"training {EnumNames.Name(options.Model.Kind)} ({options.Model.Formulation})", options.Training.Steps, progress => trainer.Train(settings.Out, settings.Resume, progress, cancellation), "0.0000");
        if (Ranks.IsFollower) return Program.Ok;
        Ui.Result($"final loss {loss:0.0000}; run folder {Path.GetFullPath(settings.Out)} (checkpoint.safetensors, loss.png, grid.png)");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera diffusion sample</c>.</summary>
internal sealed class DiffusionSampleSettings : GlobalSettings, IShardSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("checkpoint.safetensors of tessera diffusion train (its EMA weights are used)")] public string? Checkpoint { get; init; }
    [CommandOption("--sampler <NAME>"), Description("Any sampler of the framework (euler, heun, dpmpp_2m, edm_stochastic, …). Default heun")] public string Sampler { get; init; } = "heun";
    [CommandOption("--steps <N>"), Description("Noise levels of the Karras grid (Heun uses 2N − 1 evaluations). Default 18")] public int Steps { get; init; } = 18;
    [CommandOption("--grid <FILE>"), Description("σ-grid file (JSON with a 'sigmas' array, e.g. from tessera diffusion schedule) instead of the Karras grid; --steps is then not used")] public string? Grid { get; init; }
    [CommandOption("-n|--count <N>"), Description("Samples. Default 64")] public int Count { get; init; } = 64;
    [CommandOption("--batch <N>"), Description("Samples per batch (every sample has its own seed: results depend on it only by float rounding). Default 64")] public int Batch { get; init; } = 64;
    [CommandOption("--class <LIST>"), Description("Class labels, comma-separated (conditional models): the sample of seed s gets label s mod their count; default: s mod the model's classes")] public string? Classes { get; init; }
    [CommandOption("--guidance <W>"), Description("Classifier-free guidance scale (1: none). Default 1")] public double Guidance { get; init; } = 1;
    [CommandOption("--precision <P>"), Description("fp32 (default) or bf16: the network's number format (fast on CPUs with avx512_bf16/AMX); the sampler's state and σ arithmetic stay fp32. fp16 on GPUs")] public string PrecisionName { get; init; } = "fp32";
    [CommandOption("-o|--output|--out <FILE>"), Description("PNG grid. Default samples.png")] public string Out { get; init; } = "samples.png";
    [CommandOption("--out-dir <DIR>"), Description("Also write one PNG per sample here, named by its seed (000123.png, as EDM's generate.py); with --seeds only these, skipping those already there. diffusion eval --samples scores such a folder")] public string? OutDir { get; init; }

    [CommandOption("--seeds <LIST>"), Description("Sample these seeds, e.g. 0-49999 or 1,5,7-9 (EDM's generate.py): one PNG per seed in --out-dir; a sample depends only on its seed (class: seed mod the classes)")] public string? Seeds { get; init; }
    [CommandOption("--shard <I/N>"), Description("With --seeds: only shard I of N (seeds sorted by value, dealt round-robin). Default: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID when set")] public string? Shard { get; init; }
    [CommandOption("--shard-count <N>"), Description("Number of shards of a Kubernetes Indexed Job (its completions)")] public int? ShardCount { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (Seeds is not null && OutDir is null) return ValidationResult.Error("--seeds: needs --out-dir (one PNG per seed)");
        if ((Shard is not null || ShardCount is not null) && Seeds is null) return ValidationResult.Error("--shard: shards split a --seeds list");
        if (Count < 1) return ValidationResult.Error($"--count: {Count}; expected at least 1");
        if (OptionChoices.Check<Tessera.Runtime.Precision>("--precision", PrecisionName, "precision") is { Successful: false } bad) return bad;
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion sample</c>.</summary>
internal sealed class DiffusionSampleCommand : TesseraCommand<DiffusionSampleSettings>
{
    public override int Execute(CommandContext context, DiffusionSampleSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        using var model = DiffusionModel.Load(settings.Checkpoint!, device);
        double[]? grid = settings.Grid is null ? null : ModelGrid.Read(settings.Grid, model.Config.SigmaRange);
        int steps = grid is null ? settings.Steps : grid.Length - 1;
        var options = new DiffusionSamplingOptions
        {
            Sampler = settings.Sampler,
            Steps = steps,
            Sigmas = grid,
            Batch = settings.Batch,
            Classes = settings.Classes is null ? null : ListOption.TryInts(settings.Classes, min: 0) ?? throw new TesseraUserException(ListOption.Expected("--class", settings.Classes, min: 0)),
            Guidance = settings.Guidance,
            Precision = EnumNames.Parse<Tessera.Runtime.Precision>(nameof(DiffusionSamplingOptions.Precision), settings.PrecisionName, "precision"),
        };
        string what = $"sampling ({settings.Sampler}, {steps} steps{(grid is null ? "" : " of " + Path.GetFileName(settings.Grid))})";
        if (settings.Seeds is not null)
        {
            var seeds = SeedList.Parse(settings.Seeds);
            var shard = Shard.Resolve(settings.Shard, settings.ShardCount);
            Ui.Result($"{shard.Describe()}: {shard.Select(seeds).Count()} of {seeds.Count} seeds");
            var summary = Ui.WithProgress(what, shard.Select(seeds).Count(), "img",
                report => SeedSampling.WriteImages(model, options, seeds, shard, settings.OutDir!, device, new InlineProgress<int>(n => report(n, null)), cancellation));
            Ui.Result($"{summary.Done} written, {summary.Skipped} already there, in {Path.GetFullPath(settings.OutDir!)} ({summary.Seconds:0.0} s)");
            return Program.Ok;
        }
        var gridSeeds = DiffusionSampling.ConsecutiveSeeds(settings.Seed, settings.Count);
        var images = Ui.WithProgress(what, settings.Count, "img", report =>
            DiffusionSampling.Sample(model, gridSeeds, options, device, new InlineProgress<DiffusionSamplingStep>(s => { if (s.BatchDone) report(s.SamplesDone, null); }), cancellation));
        using (images)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(settings.Out))!);
            ImageIO.SaveGrid(images, settings.Out, columns: DiffusionSampling.GridColumns(settings.Count));
            if (settings.OutDir is not null) Directory.CreateDirectory(settings.OutDir);
            for (int i = 0; settings.OutDir is not null && i < settings.Count; i++) ImageIO.SavePng(images[i], Path.Combine(settings.OutDir, SeedList.ImageName(gridSeeds[i])));
        }
        Ui.Result($"wrote {Path.GetFullPath(settings.Out)}" + (settings.OutDir is null ? "" : $" and {settings.Count} PNGs in {Path.GetFullPath(settings.OutDir)}"));
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera classifier train</c>.</summary>
public sealed class ClassifierTrainSettings : DataSettings
{
    [CommandOption("--epochs <N>"), Description("Epochs over Fashion-MNIST's training split. Default 3")] public int Epochs { get; init; } = 3;
    [CommandOption("-o|--output|--out <FILE>"), Description("Where to save it. Default ~/.cache/tessera/fashion-classifier.safetensors (where diffusion eval looks)")] public string? Out { get; init; }

    public override ValidationResult Validate() => Epochs < 1 ? ValidationResult.Error($"--epochs: {Epochs} must be at least 1") : base.Validate();
}

/// <summary><c>tessera classifier train</c>.</summary>
public sealed class ClassifierTrainCommand : TesseraCommand<ClassifierTrainSettings>
{
    public override int Execute(CommandContext context, ClassifierTrainSettings settings, CancellationToken cancellation)
    {
        var (_, device) = Ranks.Join(Ui, settings.Apply(), "classifier train");
        string path = settings.Out ?? Diffusion.Evaluation.FashionClassifier.DefaultPath;
        var (model, accuracy) = Ui.WithProgress("training the Fashion-MNIST classifier", 1000, "‰", report =>
            Diffusion.Evaluation.FashionClassifier.Train(path, settings.Epochs, settings.Seed, settings.Data,
                new InlineProgress<Diffusion.Evaluation.ClassifierTrainingProgress>(p => report(p.Batch * 1000 / p.Batches, $"loss {p.Loss:0.000}")), device, cancellation));
        model.Dispose();
        Ui.Result($"test accuracy {100 * accuracy:0.00}%; saved {Path.GetFullPath(path)}");
        return Program.Ok;
    }
}

/// <summary>Options of <c>tessera diffusion eval</c>.</summary>
internal sealed class DiffusionEvalSettings : DataSettings, IShardSettings
{
    [CommandOption("--checkpoint <FILE>"), Description("checkpoint.safetensors of tessera diffusion train (Fashion-MNIST-shaped: 28×28 gray)")] public string? Checkpoint { get; init; }
    [CommandOption("--classifier <FILE>"), Description("Classifier weights. Default ~/.cache/tessera/fashion-classifier.safetensors (tessera classifier train)")] public string? Classifier { get; init; }
    [CommandOption("--samplers <LIST>"), Description("Samplers, comma-separated. Default heun,dpmpp_2m,edm_stochastic")] public string Samplers { get; init; } = "heun,dpmpp_2m,edm_stochastic";
    [CommandOption("--steps <LIST>"), Description("Karras-grid sizes, comma-separated. Default 6,10,18")] public string Steps { get; init; } = "6,10,18";
    [CommandOption("--grid <FILE>"), Description("σ-grid file (JSON with a 'sigmas' array, e.g. from tessera diffusion schedule) for every sampler instead of the Karras grids; the NFE follow from its length and --steps is not used")] public string? Grid { get; init; }
    [CommandOption("-n|--count <N>"), Description("Generated and test images per row. Default 2000")] public int Count { get; init; } = 2000;
    [CommandOption("--guidance <W>"), Description("Classifier-free guidance scale for conditional models. Default 1")] public double Guidance { get; init; } = 1;

    [CommandOption("--shard <I/N>"), Description("Only shard I of N (batches of samples dealt round-robin): writes each row's feature statistics to --stats-dir for --merge. Default: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID when set")] public string? Shard { get; init; }
    [CommandOption("--shard-count <N>"), Description("Number of shards of a Kubernetes Indexed Job (its completions)")] public int? ShardCount { get; init; }
    [CommandOption("--stats-dir <DIR>"), Description("Where a shard writes its rows' statistics (count, sum, sum of outer products in float64); rows already there are skipped")] public string? StatsDir { get; init; }
    [CommandOption("--merge <FILE>"), Description("Combine the shards' statistics files (repeat, or list several after one --merge) into the table")] public string[] Merge { get; init; } = [];
    [CommandOption("--reference-stats <FILE>"), Description("Statistics of the real (test) images: read when the file exists, else computed once and written there")] public string? ReferenceStats { get; init; }
    [CommandOption("--batch <N>"), Description("Samples per batch (the unit dealt to shards). Default 250")] public int Batch { get; init; } = 250;
    [CommandOption("--samples <DIR>"), Description("Score a folder of generated 28×28 PNGs instead of sampling a checkpoint (the --out-dir of tessera diffusion sample): their Fréchet distance against as many test images")] public string? Samples { get; init; }

    public override ValidationResult Validate()
    {
        if (Batch < 1) return ValidationResult.Error("--batch must be at least 1");
        if (Samples is not null && (Checkpoint is not null || Merge.Length > 0)) return ValidationResult.Error("--samples: give a folder of samples, a --checkpoint or --merge, one of them");
        if (Samples is not null) return base.Validate();
        if (Merge.Length > 0) return Count < 2 ? ValidationResult.Error("--count must be at least 2") : base.Validate();
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        foreach (var s in ListOption.Items(Samplers)) SamplerRegistry.Check(s, "--samplers");
        if (Count < 2) return ValidationResult.Error("--count must be at least 2");
        if (ListOption.TryInts(Steps) is null) return ValidationResult.Error(ListOption.Expected("--steps", Steps));
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion eval</c>.</summary>
internal sealed class DiffusionEvalCommand : TesseraCommand<DiffusionEvalSettings>
{
    public override int Execute(CommandContext context, DiffusionEvalSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        // the checkpoint first: a bad one is named before anything else is read
        using var model = settings.Merge.Length > 0 || settings.Samples is not null ? null : DiffusionModel.Load(settings.Checkpoint!, device);
        using var classifier = Diffusion.Evaluation.FashionClassifier.Load(settings.Classifier ?? Diffusion.Evaluation.FashionClassifier.DefaultPath, device);
        using var reference = ReferenceStatistics(settings, classifier, device);
        if (settings.Samples is not null)
        {
            var (count, distance) = Diffusion.Evaluation.SampleQuality.EvaluateFolder(classifier, settings.Samples, reference, device, cancellation: cancellation);
            Ui.Result($"{count} images in {Path.GetFullPath(settings.Samples)}: Fréchet distance {distance:0.000} against {count} test images");
            return Program.Ok;
        }
        if (settings.Merge.Length > 0)
        {
            var merged = Diffusion.Evaluation.ShardedSampleQuality.Merge(settings.Merge, reference);
            Ui.Say($"merged {settings.Merge.Length} statistics file(s) into {merged.Count} row(s)");
            PrintRows(merged);
            return Program.Ok;
        }
        var samplers = ListOption.Items(settings.Samplers);
        double[]? grid = settings.Grid is null ? null : ModelGrid.Read(settings.Grid, model!.Config.SigmaRange);
        var steps = grid is null ? ListOption.Ints("--steps", settings.Steps) : [grid.Length - 1];
        if (grid is not null) Ui.Say($"every sampler runs down the {grid.Length - 1}-step grid of {Path.GetFullPath(settings.Grid!)}");
        var shard = Shard.Resolve(settings.Shard, settings.ShardCount);
        if (shard.IsSharded || settings.StatsDir is not null)
        {
            string dir = settings.StatsDir ?? throw new TesseraUserException("--shard: needs --stats-dir (where the shard's statistics go)");
            Ui.Result($"{shard.Describe()}: writing row statistics to {Path.GetFullPath(dir)}");
            Ui.WithProgress("sampling", samplers.Length * steps.Length, "rows", report =>
            {
                int done = 0;
                ShardedSampleRows.WriteRows(model!, classifier, samplers, steps, settings.Count, settings.Seed, settings.Guidance, device, shard, settings.Batch, dir,
                    grid, settings.Grid is null ? null : Path.GetFileNameWithoutExtension(settings.Grid), (sampler, n) => report(++done, $"{sampler} {n}"), cancellation);
                return 0;
            });
            Ui.Result($"wrote the statistics of {samplers.Length * steps.Length} row(s); combine all shards with: tessera diffusion eval --merge {Path.Combine(dir, "*.safetensors")}");
            return Program.Ok;
        }
        var rows = Ui.WithProgress("sampling and scoring", samplers.Length * steps.Length, "rows", report =>
        {
            int done = 0;
            return Diffusion.Evaluation.SampleQuality.Evaluate(model!, classifier, samplers, steps, settings.Count, settings.Seed, settings.Guidance, settings.Data, device,
                settings.Batch, new InlineProgress<Diffusion.Evaluation.SampleQualityRow>(r => report(++done, $"{r.Sampler} {r.Nfe} NFE")), reference: reference, cancellation: cancellation, sigmas: grid);
        });
        PrintRows(rows);
        double floor = Diffusion.Evaluation.SampleQuality.ReferenceDistance(classifier, settings.Count, settings.Data, device);
        Ui.Result($"reference: {settings.Count} training images against {settings.Count} test images: Fréchet distance {floor:0.000} (the floor at this sample size)");
        return Program.Ok;
    }

    private Diffusion.Evaluation.FeatureStatistics ReferenceStatistics(DiffusionEvalSettings settings, Diffusion.Evaluation.FashionClassifier classifier, torch.Device device)
    {
        int count = settings.Count;
        if (settings.Samples is not null && Directory.Exists(settings.Samples)) count = Directory.GetFiles(settings.Samples, "*.png").Length; // as many test images as samples
        if (settings.Merge.Length > 0 && !File.Exists(settings.ReferenceStats ?? ""))
        {
            var first = Diffusion.Evaluation.ShardedSampleQuality.Load(settings.Merge[0]); // as many test images as the row has samples
            using (first.Features) count = first.Count;
        }
        var (stats, written) = Diffusion.Evaluation.SampleQuality.ReferenceStatistics(classifier, count, settings.Data, device, settings.ReferenceStats);
        if (written) Ui.Say($"wrote the reference statistics to {Path.GetFullPath(settings.ReferenceStats!)}");
        return stats;
    }

    private void PrintRows(List<Diffusion.Evaluation.SampleQualityRow> rows)
    {
        var table = new Table().AddColumn("sampler").AddColumn(new TableColumn("steps").RightAligned()).AddColumn(new TableColumn("NFE").RightAligned())
            .AddColumn(new TableColumn("Fréchet distance").RightAligned()).AddColumn(new TableColumn("class accuracy").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var r in rows)
            table.AddRow(r.Sampler, r.Steps.ToString(CultureInfo.InvariantCulture), r.Nfe.ToString(CultureInfo.InvariantCulture), r.FrechetDistance.ToString("0.000", CultureInfo.InvariantCulture),
                double.IsNaN(r.ClassAccuracy) ? "-" : (100 * r.ClassAccuracy).ToString("0.0", CultureInfo.InvariantCulture) + "%", r.Seconds.ToString("0", CultureInfo.InvariantCulture));
        Ui.Console.Write(table);
        foreach (var r in rows)
            Ui.Result($"{r.Sampler} steps {r.Steps} NFE {r.Nfe}: Fréchet distance {r.FrechetDistance:0.000}" + (double.IsNaN(r.ClassAccuracy) ? "" : $", class accuracy {100 * r.ClassAccuracy:0.0}%"));
    }
}
