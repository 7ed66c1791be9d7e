using Tessera.Applications;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera posenc bench</c>.</summary>
internal sealed class PosencBenchSettings : GlobalSettings
{
    [CommandOption("--train-length <L>"), Description("Longest copied string in training; tests at L, 2L and 4L. Default 16.")] public int TrainLength { get; init; } = 16;
    [CommandOption("--steps <N>"), Description("Training steps per encoding. Default 1200.")] public int Steps { get; init; } = 1200;
    [CommandOption("--encodings <LIST>"), Description("Comma-separated subset of: none, sinusoidal, learned, t5, alibi, rope, rope-interpolation, rope-ntk, rope-yarn. Default all.")] public string? Encodings { get; init; }
    [CommandOption("--json <FILE>"), Description("Write the table as JSON.")] public string? Json { get; init; }

    public override ValidationResult Validate()
    {
        if (TrainLength < 2) return ValidationResult.Error($"--train-length: {TrainLength}; expected at least 2");
        if (Steps < 1) return ValidationResult.Error($"--steps: {Steps}; expected at least 1");
        if (Encodings is not null)
            foreach (string e in ListOption.Items(Encodings))
                if (!LengthGeneralization.TryParse(e, out _))
                    return ValidationResult.Error($"--encodings: unknown encoding '{e}'; expected any of {string.Join(", ", LengthGeneralization.Encodings.Select(LengthGeneralization.Name))}");
        return base.Validate();
    }
}

/// <summary><c>tessera posenc bench</c>: length generalisation of position encodings on a copy task.</summary>
internal sealed class PosencBenchCommand : TesseraCommand<PosencBenchSettings>
{
    public override int Execute(CommandContext context, PosencBenchSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        BenchEncoding[] encodings = settings.Encodings is null ? LengthGeneralization.Encodings
            : ListOption.Items(settings.Encodings).Select(e => LengthGeneralization.TryParse(e, out var encoding) ? encoding : throw new TesseraUserException($"--encodings: unknown encoding '{e}'")).ToArray();
        var options = new LengthBenchOptions(settings.TrainLength, settings.Steps, Seed: settings.Seed);
        Ui.Say($"copy task: train on strings of 1-{options.TrainLength} digits, test at {string.Join(", ", LengthGeneralization.Multiples.Select(m => $"{m}x"))}; {options.Layers} layers, width {options.ModelDim}, {options.Heads} heads, {options.Steps} steps each");
        var rows = Ui.WithProgress("training", (long)encodings.Length * options.Steps, "steps", report =>
        {
            var list = new List<LengthBenchRow>();
            for (int i = 0; i < encodings.Length; i++)
            {
                int done = i * options.Steps;
                list.Add(LengthGeneralization.Run(encodings[i], options, new InlineProgress<TrainingProgress>(p => report(done + p.Step, $"{LengthGeneralization.Name(encodings[i])} loss {p.Loss:0.000}")), cancellation));
            }
            return list;
        });
        var table = new Table().AddColumn("encoding");
        foreach (int m in LengthGeneralization.Multiples) table.AddColumn(new TableColumn($"{m}x L ({m * options.TrainLength})").RightAligned());
        table.AddColumn(new TableColumn("exact copies at 1x/2x/4x").RightAligned()).AddColumn(new TableColumn("final loss").RightAligned()).AddColumn(new TableColumn("s").RightAligned());
        foreach (var r in rows)
            table.AddRow([r.Encoding, .. r.TokenAccuracy.Select(a => (100 * a).ToString("0.0", CultureInfo.InvariantCulture) + "%"),
                string.Join(" / ", r.SequenceAccuracy.Select(a => (100 * a).ToString("0", CultureInfo.InvariantCulture) + "%")),
                r.FinalLoss.ToString("0.000", CultureInfo.InvariantCulture), r.Seconds.ToString("0", CultureInfo.InvariantCulture)]);
        Ui.Console.Write(table);
        Ui.Result("token accuracy of the copied half; chance is 10%");
        if (settings.Json is not null)
        {
            AtomicFile.WriteAllText(settings.Json, JsonSerializer.Serialize(new { task = "copy", train_length = options.TrainLength, multiples = LengthGeneralization.Multiples, rows }, new JsonSerializerOptions { WriteIndented = true }));
            Ui.Result($"wrote {Path.GetFullPath(settings.Json)}");
        }
        return Program.Ok;
    }
}
