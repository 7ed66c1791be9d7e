
namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera quickstart</c>.</summary>
internal sealed class QuickstartSettings : DataSettings
{
    [CommandOption("--output|--out <DIR>"), Description("Folder for the outputs. Default runs/quickstart.")] public string Out { get; init; } = Path.Combine("runs", "quickstart");
    [CommandOption("--seg-steps <N>"), Description("Training steps of the small GCN-Net on Fashion-MNIST scenes (0 skips it). Default 300, a few minutes on 2 cores.")] public int SegSteps { get; init; } = 300;
    [CommandOption("--diffusion-steps <N>"), Description("Training steps of the small class-conditional diffusion U-Net (0 skips it). Default 300: about three minutes on 2 cores with the sample grids.")] public int DiffusionSteps { get; init; } = 300;

    public override ValidationResult Validate() =>
        SegSteps < 0 ? ValidationResult.Error($"--seg-steps: {SegSteps}; expected 0 or more")
        : DiffusionSteps < 0 ? ValidationResult.Error($"--diffusion-steps: {DiffusionSteps}; expected 0 or more")
        : base.Validate();
}

/// <summary><c>tessera quickstart</c>: the first thing to run on a fresh checkout.</summary>
internal sealed class QuickstartCommand : TesseraCommand<QuickstartSettings>
{
    private const int PerClass = 8;

    public override int Execute(CommandContext context, QuickstartSettings settings, CancellationToken cancellation)
    {
        torch.Device device = settings.Apply();
        FashionMnistSource source = FashionMnist.Locate(settings.Data);
        Ui.Say($"Fashion-MNIST from {source.Describe()}");
        using FashionMnist train = FashionMnist.Load(Split.Train, source);
        using FashionMnist test = FashionMnist.Load(Split.Test, source);

        var table = new Table().AddColumn("label").AddColumn("class").AddColumn(new TableColumn("train").RightAligned()).AddColumn(new TableColumn("test").RightAligned());
        long[] trainCounts = Counts(train.Labels), testCounts = Counts(test.Labels);
        for (int c = 0; c < 10; c++)
            table.AddRow(c.ToString(CultureInfo.InvariantCulture), Markup.Escape(FashionMnist.ClassNames[c]), trainCounts[c].ToString("N0", CultureInfo.InvariantCulture), testCounts[c].ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("", "total", train.Count.ToString("N0", CultureInfo.InvariantCulture), test.Count.ToString("N0", CultureInfo.InvariantCulture));
        Ui.Console.Write(table);

        // A grid with one row per class: the first PerClass training images of each class.
        string gridPath = Path.GetFullPath(Path.Combine(settings.Out, "fashion-mnist-grid.png"));
        Ui.WithProgress("composing grid", 10, "classes", report =>
        {
            Quickstart.ClassGrid(train, gridPath, PerClass, device, n => report(n, null), cancellation);
            return 0;
        });
        Ui.Result($"wrote {gridPath}");

        if (settings.SegSteps > 0)
        {
            // A small GCN-Net on Fashion-MNIST scenes: the segmentation family end to end.
            var options = Quickstart.Segmentation(settings.SegSteps, settings.Seed, settings.Data);
            string runDir = Path.GetFullPath(Path.Combine(settings.Out, "gcn"));
            var trainer = new Tessera.Segmentation.Training.SegTrainer(options, device);
            var result = Ui.Training("training GCN-Net on scenes", options.Training.Steps, progress => trainer.Train(runDir, resume: false, progress, cancellation))!;
            SegTrainCommand.PrintEvaluation(Ui, result);
            Ui.Result($"wrote {runDir} (checkpoint.safetensors, loss.png, metrics.json)");
        }
        if (settings.DiffusionSteps > 0)
        {
            // A small class-conditional U-Net (EDM), then two samplers from the same seeds.
            string runDir = Path.GetFullPath(Path.Combine(settings.Out, "diffusion"));
            var options = Quickstart.Diffusion(settings.DiffusionSteps, settings.Seed, settings.Data);
            var trainer = new Tessera.Diffusion.Training.DiffusionTrainer(options, device);
            double loss = Ui.Training("training a diffusion U-Net", options.Training.Steps, progress => trainer.Train(runDir, resume: false, progress, cancellation));
            using var model = Tessera.Diffusion.Models.DiffusionModel.Load(Path.Combine(runDir, "checkpoint.safetensors"), device);
            foreach (var (sampler, steps) in new[] { ("heun", 18), ("dpmpp_2m", 10) })
            {
                using var images = Ui.WithProgress($"sampling with {sampler}", 64, "img", report =>
                    Tessera.Diffusion.Sampling.DiffusionSampling.Sample(model, Tessera.Diffusion.Sampling.DiffusionSampling.ConsecutiveSeeds(settings.Seed, 64),
                        new Tessera.Diffusion.Sampling.DiffusionSamplingOptions { Sampler = sampler, Steps = steps, Guidance = 1.5 }, device,
                        new InlineProgress<Tessera.Diffusion.Sampling.DiffusionSamplingStep>(s => { if (s.BatchDone) report(s.SamplesDone, null); }), cancellation));
                string path = Path.Combine(runDir, $"samples-{sampler}.png");
                ImageIO.SaveGrid(images, path, columns: 10);
                Ui.Result($"wrote {path} ({sampler}, {steps} steps, classes in columns)");
            }
            Ui.Result($"diffusion run folder {runDir} (checkpoint.safetensors, loss.png; final loss {loss:0.000})");
        }
        return Program.Ok;
    }

    private static long[] Counts(torch.Tensor labels)
    {
        using var counts = torch.bincount(labels, minlength: 10);
        return counts.data<long>().ToArray();
    }
}
