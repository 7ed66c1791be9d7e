namespace Tessera.Cli;

/// <summary>The <c>tessera</c> command line.</summary>
public static class Program
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;

    /// <summary>Exit code for a failure at run time (a fault in Tessera, the machine or the data it made).</summary>
    public const int RuntimeFailure = 1;

    /// <summary>Exit code for a user error: a bad option, a missing or malformed file.</summary>
    public const int UserError = 2;

    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        _isProcess = true;
        return Run(args);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "_exit")]
    private static extern void ImmediateExit(int status);

    /// <summary>Whether this is the <c>tessera</c> process itself (not a test calling <see cref="Run"/> in its own process).</summary>
    private static bool _isProcess;

    /// <summary>How long a verb without a checkpoint to write gets, after Ctrl-C or SIGTERM, to stop on its own.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(0.25);

    /// <summary>
    /// Ctrl-C or SIGTERM: cancels the run's token. Trainers (which write a checkpoint first) and the server (which finishes
    /// its requests) stop on their own; any other verb that has not returned within <see cref="StopGrace"/> is ended
    /// with "cancelled" and exit 1 — its outputs are written atomically, so nothing torn is left, and a long native
    /// call (a batch of samples, a reference integration) need not finish first.
    /// </summary>
    private static void OnStopSignal(CancellationTokenSource cancel, CommandResolver resolver, Ui ui)
    {
        if (cancel.IsCancellationRequested) return;
        cancel.Cancel();
        bool graceful = resolver.SettingsType is { } t && (typeof(TrainingSettings).IsAssignableFrom(t) || t == typeof(ServeSettings));
        if (!_isProcess || graceful) return;
        // A thread of its own: the thread pool may be busy (or starved) when the signal comes.
        new Thread(() =>
        {
            Thread.Sleep(StopGrace);
            ui.Error("cancelled");
            Console.Error.Flush();
            // _exit, not Environment.Exit: no atexit handlers, so libtorch's static destructors do not run under a
            // kernel still executing on the main thread (which made its own error line), and the exit is immediate.
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) ImmediateExit(RuntimeFailure);
            Environment.Exit(RuntimeFailure);
        })
        { IsBackground = true, Name = "tessera stop" }.Start();
    }

    /// <summary>The verbs and branches in the order <c>tessera --help</c> lists them.</summary>
    private static readonly CliVerb[] Verbs =
    [
        Verb<InfoCommand>("info", "Versions of Tessera, TorchSharp and libtorch; the device, threads and where data was found."),
        Verb<QuickstartCommand>("quickstart", "A first run: load Fashion-MNIST (or the embedded subset), print a summary, write a grid of real images, then train a small GCN-Net on scenes (--seg-steps) and a small class-conditional diffusion U-Net (--diffusion-steps) with loss curves, metrics and sample grids."),
        Branch("data", "Datasets.", Verb<DataGridCommand>("grid", "Write a PNG grid of Fashion-MNIST or of a folder of images.")),
        Branch("posenc", "Positional encodings.", Verb<PosencBenchCommand>("bench", "Train a small Transformer to copy strings with each position encoding and test it on 1x, 2x and 4x longer ones.")),
        Branch("diffusion", "Diffusion models (EDM framework).",
            Verb<DiffusionTrainCommand>("train", "Train a U-Net or DiT denoiser (EDM, VP, VE or flow matching) on Fashion-MNIST or a folder of images, with EMA, resumable checkpoints, curves and sample grids."),
            Verb<DiffusionSampleCommand>("sample", "Sample a trained model with any sampler, steps, seeds, classes and guidance; a PNG grid and optionally one PNG per sample."),
            Verb<DiffusionEvalCommand>("eval", "Sample quality of a Fashion-MNIST model: Fréchet distance of Tessera's classifier features against test images, and class accuracy of conditional samples, per sampler and step count."),
            Verb<DiffusionScheduleCommand>("schedule", "Fit a σ-grid to a mixture model for one sampler and NFE (writes a grid file for --grid)."),
            Verb<DiffusionAnalyticCommand>("analytic", "Run any sampler on a Gaussian mixture with exact answers: RMS error against the converged probability flow, and SW2 to exact samples.")),
        Branch("seg", "Semantic segmentation.",
            Verb<MakeDatasetCommand>("make-dataset", "Write Fashion-MNIST scenes (images/, labels/, instances/) as PNGs."),
            Verb<SegTrainCommand>("train", "Train GCN-Net, DeepLabV3 or FCN on Fashion-MNIST scenes or a dataset (VOC, Cityscapes, ADE20K, custom), with checkpoints, curves and validation."),
            Verb<SegPredictCommand>("predict", "Label PNGs (in the dataset's convention) and colour overlays for a folder of images or a dataset split, from a seg train checkpoint; shardable."),
            Verb<SegTestCommand>("test", "Score a checkpoint on a dataset split (whole or slide, multi-scale and flip): seg eval's metrics and --json report; shardable."),
            Branch("convert", "Convert dataset label files.", Verb<SegConvertCityscapesCommand>("cityscapes", "Write *_labelTrainIds.png beside every *_labelIds.png under DIR/gtFine (19 classes, the rest 255).")),
            Verb<SegEvalCommand>("eval", "PA, MPA, MIoU, FWIoU, Dice and F-score of predicted label PNGs against ground truth.")),
        Branch("classifier", "The Fashion-MNIST classifier behind diffusion eval.", Verb<ClassifierTrainCommand>("train", "Train it (a few minutes on a CPU) and cache its weights.")),
        Branch("sam", "Segment Anything: official checkpoints, prompts, automatic masks, training.",
            Verb<SamSegmentCommand>("segment", "Mask of the object at --point clicks and/or a --box, with an overlay PNG."),
            Verb<SamAutoCommand>("auto", "Automatic masks for everything in an image: PNGs, an overlay and a JSON of RLEs, scores and boxes."),
            Verb<SamTrainCommand>("train", "Promptable training on Fashion-MNIST scenes (SAM's interactive recipe), from scratch or fine-tuning a checkpoint."),
            Verb<SamEvalCommand>("eval", "mIoU after 1 … 5 simulated clicks (the SAM paper's protocol) on Fashion-MNIST scenes."),
            Verb<SamTrackCommand>("track", "Track objects through a folder of video frames with SAM 2 / 2.1 from clicks, boxes or masks on any frames: label PNGs, overlays, a preview and a summary JSON.")),
        Verb<ServeCommand>("serve", "A web page and JSON API for SAM clicks, diffusion sampling and segmentation, models loaded once."),
        Branch("checkpoint", "Checkpoints (.safetensors).", Verb<CheckpointInspectCommand>("inspect", "Validate a safetensors file and list its tensors and metadata.")),
    ];

    /// <summary>A command (<see cref="CliVerb.Command"/> set) or a branch of them, with its help line.</summary>
    private sealed record CliVerb(string Name, string Description, Type? Command, CliVerb[] Children);

    private static CliVerb Verb<TCommand>(string name, string description) where TCommand : ICommand => new(name, description, typeof(TCommand), []);

    private static CliVerb Branch(string name, string description, params CliVerb[] children) => new(name, description, null, children);

    /// <summary>Adds <paramref name="verbs"/> to <paramref name="configurator"/> (the app's <see cref="IConfigurator"/> or a branch's).</summary>
    private static void Register(object configurator, CliVerb[] verbs)
    {
        Type face = configurator is IConfigurator ? typeof(IConfigurator) : typeof(IConfigurator<CommandSettings>);
        foreach (var v in verbs)
        {
            if (v.Command is { } command)
            {
                var added = (ICommandConfigurator)face.GetMethod(nameof(IConfigurator.AddCommand))!.MakeGenericMethod(command).Invoke(configurator, [v.Name])!;
                added.WithDescription(v.Description);
                continue;
            }
            Action<IConfigurator<CommandSettings>> children = branch =>
            {
                branch.SetDescription(v.Description);
                Register(branch, v.Children);
            };
            if (configurator is IConfigurator app) app.AddBranch(v.Name, children);
            else ((IConfigurator<CommandSettings>)configurator).AddBranch(v.Name, children);
        }
    }

    /// <summary>Runs the command line with <paramref name="args"/>, writing to <paramref name="console"/> (the terminal by default).</summary>
    public static int Run(string[] args, IAnsiConsole? console = null)
    {
        // The application's one image codec (JPEG, BMP, GIF, WebP; Tessera reads PNG itself), set before any verb runs.
        ImageIO.Codec ??= new Tessera.Imaging.Skia.SkiaImageCodec();
        if (console is null)
        {
            console = AnsiConsole.Console;
            // Piped output: no wrapping at an imaginary 80 columns.
            if (Console.IsOutputRedirected) console.Profile.Width = 200;
        }
        var ui = new Ui(console);
        var resolver = new CommandResolver(ui);
        // The issues' spelling "--k 15": Spectre.Console.Cli wants long names of two or more letters.
        args = args.Select(a => a == "--k" ? "--kernel" : a.StartsWith("--k=", StringComparison.Ordinal) ? "--kernel=" + a[4..] : a).ToArray();
        args = ExpandMultiValueOptions(args);
        var app = new CommandApp(resolver);
        app.Configure(config =>
        {
            config.SetApplicationName("tessera");
            config.ConfigureConsole(console);
            config.PropagateExceptions();
            config.Settings.StrictParsing = true;
            Register(config, Verbs);
        });

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; OnStopSignal(cancel, resolver, ui); };
        Console.CancelKeyPress += onCancel;
        // SIGTERM (kill, timeout, docker stop, a scheduler's preemption) stops as Ctrl-C does: trainers checkpoint first.
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            OnStopSignal(cancel, resolver, ui);
        });
        try
        {
            return app.Run(args, cancel.Token);
        }
        catch (Exception e)
        {
            int code = Report(ui, e, resolver.SettingsType);
            // A failed rank of a data-parallel run ends the others (they would wait in a collective); a stop the ranks agreed on ends each normally.
            if (Unwrap(e) is not OperationCanceledException) Ranks.AbortJob(code);
            return code;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            Ranks.Finish();
        }
    }

    /// <summary>
    /// Maps an exception to one line on stderr and an exit code; a library parameter named by a
    /// <see cref="TesseraUserException"/> is shown as the flag of the command that ran (<paramref name="settings"/>).
    /// </summary>
    internal static int Report(Ui ui, Exception e, Type? settings)
    {
        Exception inner = Unwrap(e);
        (string message, int code) = inner switch
        {
            TesseraUserException u => (ParameterFlags.Message(u, settings), UserError),
            CommandParseException p => (ParseMessage(p), UserError),
            CommandRuntimeException r => (r.Message, UserError),
            OperationCanceledException => ("cancelled", RuntimeFailure),
            _ => ($"{inner.GetType().Name}: {inner.Message}", RuntimeFailure),
        };
        ui.Error(message.ReplaceLineEndings(" ").Trim());
        if (code == RuntimeFailure && Environment.GetEnvironmentVariable("TESSERA_DEBUG") == "1")
            Console.Error.WriteLine(inner.ToString());
        return code;
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or TypeInitializationException or System.Reflection.TargetInvocationException && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }

    private static string ParseMessage(CommandParseException p)
    {
        string msg = p.Message;
        return msg.EndsWith('.') ? msg[..^1] + " (see tessera --help)" : msg + " (see tessera --help)";
    }

    /// <summary>Options that take several values after one flag (<c>--merge a.json b.json</c>, as a shell glob gives them): repeated for the parser.</summary>
    private static readonly HashSet<string> MultiValueOptions = new(StringComparer.Ordinal) { "--merge" };

    private static string[] ExpandMultiValueOptions(string[] args)
    {
        var result = new List<string>(args.Length);
        string? current = null;
        foreach (string a in args)
        {
            if (a.StartsWith('-')) current = MultiValueOptions.Contains(a) ? a : null;
            else if (current is not null && result.Count > 0 && result[^1] != current) { result.Add(current); }
            result.Add(a);
        }
        return result.ToArray();
    }
}
