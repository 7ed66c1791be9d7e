using Tessera.Server;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera serve</c>.</summary>
public sealed class ServeSettings : GlobalSettings
{
    [CommandOption("--sam <CKPT>"), Description("A checkpoint of any SAM family as released (sam_vit_{b,l,h}_*.pth, mobile_sam.pt, sam2.1_hiera_*.pt) or .safetensors of tessera sam train: the SAM tab and /api/sam/*; with SAM 2's video weights also the Video tab and /api/sam/videos.")] public string? Sam { get; init; }
    [CommandOption("--sam-image-size <PX>"), Description("SAM 2's model input side (the configuration's image_size, which the weights do not show). Default 1024, every release")] public int SamImageSize { get; init; } = 1024;
    [CommandOption("--max-video-frames <N>"), Description("Most frames an uploaded clip may have (SAM 2 video). Default 300")] public int MaxVideoFrames { get; init; } = 300;
    [CommandOption("--max-videos <N>"), Description("Clips kept; a new one evicts the least recently used with its files (SAM 2 video). Default 4")] public int MaxVideos { get; init; } = 4;
    [CommandOption("--diffusion <CKPT>"), Description("Checkpoint of tessera diffusion train: the sampling tab and /api/diffusion/sample.")] public string? Diffusion { get; init; }
    [CommandOption("--seg <CKPT>"), Description("Checkpoint of tessera seg train: the segmentation tab and /api/seg/predict.")] public string? Seg { get; init; }
    [CommandOption("--seg-precision <P>"), Description("fp32 (default) or bf16: the segmentation model's number format (bf16 is fast on CPUs with avx512_bf16/AMX); fp16 on GPUs.")] public string SegPrecision { get; init; } = "fp32";
    [CommandOption("--host <ADDRESS>"), Description("Address to listen on. Default 127.0.0.1 (this machine only)")] public string Host { get; init; } = "127.0.0.1";
    [CommandOption("--port <PORT>"), Description("Port. Default 8080")] public int Port { get; init; } = 8080;
    [CommandOption("--cache-mb <MIB>"), Description("Budget of the SAM image-embedding cache (least recently used images are evicted). Default 2048")] public int CacheMb { get; init; } = 2048;
    [CommandOption("--max-upload-mb <MIB>"), Description("Largest accepted upload. Default 20")] public int MaxUploadMb { get; init; } = 20;
    [CommandOption("--queue <N>"), Description("Requests that may wait for each model; more get 429 with Retry-After. Default 16")] public int Queue { get; init; } = 16;

    public override ValidationResult Validate()
    {
        if (Sam is null && Diffusion is null && Seg is null) return ValidationResult.Error("give at least one of --sam, --diffusion, --seg");
        if (Port is < 0 or > 65535) return ValidationResult.Error($"--port: {Port} is not in 0 … 65535");
        if (CacheMb < 1) return ValidationResult.Error($"--cache-mb: {CacheMb} must be at least 1");
        if (MaxUploadMb < 1) return ValidationResult.Error($"--max-upload-mb: {MaxUploadMb} must be at least 1");
        if (Queue < 0) return ValidationResult.Error($"--queue: {Queue} is negative");
        if (SamImageSize < 16 || SamImageSize % 16 != 0) return ValidationResult.Error($"--sam-image-size: {SamImageSize}; expected a positive multiple of 16");
        if (MaxVideoFrames < 1) return ValidationResult.Error($"--max-video-frames: {MaxVideoFrames} must be at least 1");
        if (MaxVideos < 1) return ValidationResult.Error($"--max-videos: {MaxVideos} must be at least 1");
        if (OptionChoices.Check<Tessera.Runtime.Precision>("--seg-precision", SegPrecision, "precision") is { Successful: false } bad) return bad;
        return base.Validate();
    }
}

/// <summary><c>tessera serve</c>: the web page and JSON API until Ctrl-C or SIGTERM.</summary>
public sealed class ServeCommand : TesseraCommand<ServeSettings>
{
    public override int Execute(CommandContext context, ServeSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var server = TesseraServer.Build(new ServerOptions
        {
            SamCheckpoint = settings.Sam,
            SamImageSize = settings.SamImageSize,
            MaxVideoFrames = settings.MaxVideoFrames,
            MaxVideos = settings.MaxVideos,
            DiffusionCheckpoint = settings.Diffusion,
            SegCheckpoint = settings.Seg,
            SegPrecision = EnumNames.Parse<Tessera.Runtime.Precision>("--seg-precision", settings.SegPrecision, "precision"),
            Host = settings.Host,
            Port = settings.Port,
            CacheMb = settings.CacheMb,
            MaxUploadMb = settings.MaxUploadMb,
            QueueLength = settings.Queue,
            Device = device,
            Log = Ui.Result,
        });
        return Run(server, cancellation).GetAwaiter().GetResult();
    }

    private async Task<int> Run(TesseraServer server, CancellationToken cancellation)
    {
        await using (server)
        {
            try
            {
                await server.StartAsync(cancellation);
            }
            catch (IOException e)
            {
                throw new TesseraUserException($"cannot listen: {e.Message}");
            }
            var stopped = new TaskCompletionSource();
            using var onStop = server.App.Lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
            using var onCancel = cancellation.Register(() => stopped.TrySetResult());
            await stopped.Task;
            Ui.Result("stopping: finishing running requests");
            await server.StopAsync();
        }
        return Program.Ok;
    }
}
