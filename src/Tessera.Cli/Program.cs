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

    /// <summary>Runs the command line with <paramref name="args"/>, writing to <paramref name="console"/> (the terminal by default).</summary>
    public static int Run(string[] args, IAnsiConsole? console = null)
    {
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
            config.AddCommand<InfoCommand>("info")
                .WithDescription("Versions of Tessera, TorchSharp and libtorch; the device, threads and where data was found.");
            config.AddCommand<QuickstartCommand>("quickstart")
                .WithDescription("A first run: load Fashion-MNIST (or the embedded subset), print a summary, write a grid of real images, then train a small GCN-Net on scenes (--seg-steps) and a small class-conditional diffusion U-Net (--diffusion-steps) with loss curves, metrics and sample grids.");
            config.AddBranch("data", data =>
            {
                data.SetDescription("Datasets.");
                data.AddCommand<DataGridCommand>("grid")
                    .WithDescription("Write a PNG grid of Fashion-MNIST or of a folder of images.");
            });
            config.AddBranch("posenc", posenc =>
            {
                posenc.SetDescription("Positional encodings.");
                posenc.AddCommand<PosencBenchCommand>("bench")
                    .WithDescription("Train a small Transformer to copy strings with each position encoding and test it on 1x, 2x and 4x longer ones.");
            });
            config.AddBranch("diffusion", diffusion =>
            {
                diffusion.SetDescription("Diffusion models (EDM framework).");
                diffusion.AddCommand<DiffusionTrainCommand>("train")
                    .WithDescription("Train a U-Net or DiT denoiser (EDM, VP, VE or flow matching) on Fashion-MNIST or a folder of images, with EMA, resumable checkpoints, curves and sample grids.");
                diffusion.AddCommand<DiffusionSampleCommand>("sample")
                    .WithDescription("Sample a trained model with any sampler, steps, seeds, classes and guidance; a PNG grid and optionally one PNG per sample.");
                diffusion.AddCommand<DiffusionEvalCommand>("eval")
                    .WithDescription("Sample quality of a Fashion-MNIST model: Fréchet distance of Tessera's classifier features against test images, and class accuracy of conditional samples, per sampler and step count.");
                diffusion.AddCommand<DiffusionScheduleCommand>("schedule")
                    .WithDescription("Fit a σ-grid to a mixture model for one sampler and NFE (writes a grid file for --grid).");
                diffusion.AddCommand<DiffusionAnalyticCommand>("analytic")
                    .WithDescription("Run any sampler on a Gaussian mixture with exact answers: RMS error against the converged probability flow, and SW2 to exact samples.");
            });
            config.AddBranch("seg", seg =>
            {
                seg.SetDescription("Semantic segmentation.");
                seg.AddCommand<MakeDatasetCommand>("make-dataset")
                    .WithDescription("Write Fashion-MNIST scenes (images/, labels/, instances/) as PNGs.");
                seg.AddCommand<SegTrainCommand>("train")
                    .WithDescription("Train GCN-Net, DeepLabV3 or FCN on Fashion-MNIST scenes or a dataset (VOC, Cityscapes, ADE20K, custom), with checkpoints, curves and validation.");
                seg.AddCommand<SegPredictCommand>("predict")
                    .WithDescription("Label PNGs (in the dataset's convention) and colour overlays for a folder of images or a dataset split, from a seg train checkpoint; shardable.");
                seg.AddCommand<SegTestCommand>("test")
                    .WithDescription("Score a checkpoint on a dataset split (whole or slide, multi-scale and flip): seg eval's metrics and --json report; shardable.");
                seg.AddBranch("convert", convert =>
                {
                    convert.SetDescription("Convert dataset label files.");
                    convert.AddCommand<SegConvertCityscapesCommand>("cityscapes")
                        .WithDescription("Write *_labelTrainIds.png beside every *_labelIds.png under DIR/gtFine (19 classes, the rest 255).");
                });
                seg.AddCommand<SegEvalCommand>("eval")
                    .WithDescription("PA, MPA, MIoU, FWIoU, Dice and F-score of predicted label PNGs against ground truth.");
            });
            config.AddBranch("classifier", cls =>
            {
                cls.SetDescription("The Fashion-MNIST classifier behind diffusion eval.");
                cls.AddCommand<ClassifierTrainCommand>("train")
                    .WithDescription("Train it (a few minutes on a CPU) and cache its weights.");
            });
            config.AddBranch("sam", sam =>
            {
                sam.SetDescription("Segment Anything: official checkpoints, prompts, automatic masks, training.");
                sam.AddCommand<SamSegmentCommand>("segment")
                    .WithDescription("Mask of the object at --point clicks and/or a --box, with an overlay PNG.");
                sam.AddCommand<SamAutoCommand>("auto")
                    .WithDescription("Automatic masks for everything in an image: PNGs, an overlay and a JSON of RLEs, scores and boxes.");
                sam.AddCommand<SamTrainCommand>("train")
                    .WithDescription("Promptable training on Fashion-MNIST scenes (SAM's interactive recipe), from scratch or fine-tuning a checkpoint.");
                sam.AddCommand<SamEvalCommand>("eval")
                    .WithDescription("mIoU after 1 … 5 simulated clicks (the SAM paper's protocol) on Fashion-MNIST scenes.");
            });
            config.AddCommand<ServeCommand>("serve").WithDescription("A web page and JSON API for SAM clicks, diffusion sampling and segmentation, models loaded once.");
            config.AddBranch("checkpoint", ckpt =>
            {
                ckpt.SetDescription("Checkpoints (.safetensors).");
                ckpt.AddCommand<CheckpointInspectCommand>("inspect")
                    .WithDescription("Validate a safetensors file and list its tensors and metadata.");
            });
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
            return Report(ui, e, resolver.SettingsType);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
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
