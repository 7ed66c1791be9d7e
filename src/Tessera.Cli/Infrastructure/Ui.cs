using Spectre.Console.Rendering;

namespace Tessera.Cli.Infrastructure;

/// <summary>
/// Console output of one run of the command line: messages, tables and progress bars. <see cref="Program.Run"/>
/// makes one per run and hands it to the command (see <see cref="TesseraCommand{TSettings}"/>), so runs in one
/// process (tests) do not share output or quiet mode.
/// </summary>
public sealed class Ui(IAnsiConsole console)
{
    /// <summary>Where output goes (the terminal, or a test console).</summary>
    public IAnsiConsole Console { get; } = console;

    /// <summary>Suppress progress bars and chatter (results are still printed); set from <c>--quiet</c> before the command runs.</summary>
    public bool Quiet { get; internal set; }

    /// <summary>Writes one error line to standard error (and to the test console when one is set).</summary>
    public void Error(string message)
    {
        if (ReferenceEquals(Console, AnsiConsole.Console)) System.Console.Error.WriteLine($"tessera: error: {message}");
        else Console.Profile.Out.Writer.WriteLine($"tessera: error: {message}"); // unwrapped: one line, whatever its length
    }

    /// <summary>Writes a line unless quiet.</summary>
    public void Say(string markupFreeText)
    {
        if (!Quiet) Console.WriteLine(markupFreeText);
    }

    /// <summary>Writes a result line, even when quiet.</summary>
    public void Result(string markupFreeText) => Console.Profile.Out.Writer.WriteLine(markupFreeText);

    /// <summary>
    /// Runs <paramref name="work"/> under a progress bar with rate and ETA (none when quiet or when the
    /// output is not a terminal). <paramref name="work"/> receives a callback to report completed units.
    /// </summary>
    public T WithProgress<T>(string description, long total, string unit, Func<Action<long, string?>, T> work)
    {
        if (Quiet || !Console.Profile.Capabilities.Interactive)
            return work((_, _) => { });
        T result = default!;
        Console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                     new CountColumn(), new RateColumn(unit), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                result = work((done, status) =>
                {
                    task.Value = done;
                    if (status is not null) task.Description = Markup.Escape($"{description} {status}");
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>
    /// Runs a trainer's <c>Train</c> (<paramref name="train"/>, given the progress callback) under a progress bar of its
    /// <paramref name="steps"/>, showing the trainer's status or else the loss in <paramref name="lossFormat"/>.
    /// </summary>
    public T Training<T>(string description, long steps, Func<IProgress<TrainingProgress>, T> train, string lossFormat = "0.000") =>
        WithProgress(description, steps, "steps", report => train(new InlineProgress<TrainingProgress>(p => report(p.Step, p.Status ?? "loss " + p.Loss.ToString(lossFormat, System.Globalization.CultureInfo.InvariantCulture)))));

    /// <summary>
    /// The progress callback of <see cref="WithProgress{T}"/> as the <see cref="IProgress{T}"/> a library call takes:
    /// each count reported at once, on the reporting thread.
    /// </summary>
    public static IProgress<int> Counter(Action<long, string?> report) => new Reporter(report);

    private sealed class Reporter(Action<long, string?> report) : IProgress<int>
    {
        public void Report(int value) => report(value, null);
    }

    /// <summary>Shows "done/total".</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{task.Value:0}/{task.MaxValue:0}");
    }

    /// <summary>Shows the rate in units per second.</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double s ? $"{s:0.0} {unit}/s" : $"- {unit}/s", new Style(Color.Grey));
    }
}
