namespace Tessera.Cli.Infrastructure;

/// <summary>
/// Base of every <c>tessera</c> command: the run's <see cref="Infrastructure.Ui"/>, given by <see cref="Program.Run"/>
/// through <see cref="CommandResolver"/>, and quiet mode applied before <see cref="Command{TSettings}.Execute(CommandContext, TSettings, CancellationToken)"/>.
/// </summary>
public abstract class TesseraCommand<TSettings> : Command<TSettings> where TSettings : CommandSettings
{
    /// <summary>The console output of this run.</summary>
    protected internal Ui Ui { get; internal set; } = null!;

    public override ValidationResult Validate(CommandContext context, TSettings settings)
    {
        if (settings is GlobalSettings global) Ui.Quiet = global.Quiet;
        return base.Validate(context, settings);
    }
}
