namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera checkpoint inspect</c>.</summary>
internal sealed class CheckpointInspectSettings : GlobalSettings
{
    [CommandArgument(0, "<FILE>"), Description("A .safetensors file.")] public string File { get; init; } = "";
}

/// <summary><c>tessera checkpoint inspect</c>: validates a safetensors file and lists its tensors and metadata.</summary>
internal sealed class CheckpointInspectCommand : TesseraCommand<CheckpointInspectSettings>
{
    public override int Execute(CommandContext context, CheckpointInspectSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        var (entries, metadata, _) = SafeTensors.ReadHeader(settings.File);
        var table = new Table().AddColumn("tensor").AddColumn("dtype").AddColumn("shape").AddColumn(new TableColumn("elements").RightAligned());
        long total = 0;
        foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            long n = e.Shape.Aggregate(1L, (a, b) => a * b);
            total += n;
            table.AddRow(Markup.Escape(e.Name), e.Dtype, Markup.Escape($"[{string.Join(", ", e.Shape)}]"), n.ToString("N0", CultureInfo.InvariantCulture));
        }
        Ui.Console.Write(table);
        foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Ui.Result($"{k}: {v}");
        Ui.Result($"{entries.Count} tensors, {total.ToString("N0", CultureInfo.InvariantCulture)} elements");
        return Program.Ok;
    }
}
