using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tessera.Diffusion.Samplers;
using Tessera.Segmentation.Sam.Inference;
using TorchSharp;

namespace Tessera.Server;

/// <summary>
/// <c>tessera serve</c>: the models loaded once, a JSON API over Kestrel (minimal APIs) with an OpenAPI document
/// at <c>/openapi.json</c>, and the page at <c>/</c>. Build with <see cref="Build"/>, then <see cref="StartAsync"/>.
/// </summary>
public sealed class TesseraServer : IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly Action<string> _log;
    private readonly DateTime _started = DateTime.UtcNow;

    /// <summary>The ASP.NET Core application.</summary>
    public WebApplication App { get; }

    /// <summary>The SAM model, or null.</summary>
    public SamService? Sam { get; }

    /// <summary>SAM 2 video over the SAM model, or null (no SAM 2 model, or one without video weights).</summary>
    public VideoService? Video { get; }

    /// <summary>The diffusion model, or null.</summary>
    public DiffusionService? Diffusion { get; }

    /// <summary>The segmentation model, or null.</summary>
    public SegService? Seg { get; }

    /// <summary>The bound address (http://host:port) once started.</summary>
    public string Address => App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
        ?? throw new InvalidOperationException("the server is not started");

    private TesseraServer(ServerOptions options, WebApplication app, SamService? sam, VideoService? video, DiffusionService? diffusion, SegService? seg)
    {
        Video = video;
        _options = options;
        _log = options.Log ?? (line => Console.Error.WriteLine(line));
        App = app;
        Sam = sam;
        Diffusion = diffusion;
        Seg = seg;
    }

    /// <summary>Loads the models of <paramref name="options"/> and sets up the application (not yet listening).</summary>
    /// <exception cref="TesseraUserException">A bad option (no model, a host that is not an address).</exception>
    /// <exception cref="TesseraFormatException">A checkpoint that is missing or is not what it should be.</exception>
    public static TesseraServer Build(ServerOptions options)
    {
        if (options.SamCheckpoint is null && options.DiffusionCheckpoint is null && options.SegCheckpoint is null)
            throw new TesseraUserException("nothing to serve: give a SAM, diffusion or segmentation checkpoint");
        if (options.Port is < 0 or > 65535) throw new TesseraUserException($"port {options.Port} is not in 0 … 65535");
        if (options.CacheMb < 1) throw new TesseraUserException($"cache size {options.CacheMb} MiB must be at least 1");
        if (options.MaxUploadMb < 1) throw new TesseraUserException($"upload limit {options.MaxUploadMb} MiB must be at least 1");
        if (options.QueueLength < 0) throw new TesseraUserException($"queue length {options.QueueLength} is negative");
        if (options.SamImageSize < 16 || options.SamImageSize % 16 != 0) throw new TesseraUserException($"SAM 2 image size {options.SamImageSize} is not a positive multiple of 16");
        if (options.MaxVideoFrames < 1) throw new TesseraUserException($"video frame limit {options.MaxVideoFrames} must be at least 1");
        if (options.MaxVideos < 1) throw new TesseraUserException($"video limit {options.MaxVideos} must be at least 1");
        IPAddress? ip = null;
        if (options.Host != "localhost" && !IPAddress.TryParse(options.Host, out ip))
            throw new TesseraUserException($"host '{options.Host}' is not an IP address (or localhost)");
        foreach (var path in new[] { options.SamCheckpoint, options.DiffusionCheckpoint, options.SegCheckpoint })
            if (path is not null && !File.Exists(path)) throw new TesseraFormatException(path, "file not found");

        var device = options.Device ?? torch.CPU;
        SamService? sam = null;
        VideoService? video = null;
        DiffusionService? diffusion = null;
        SegService? seg = null;
        try
        {
            if (options.SamCheckpoint is { } s)
            {
                sam = new SamService(s, device, (long)options.CacheMb * 1024 * 1024, options.QueueLength, options.SamImageSize);
                video = VideoService.TryCreate(sam, options.MaxVideoFrames, options.MaxVideos, options.Log ?? (line => Console.Error.WriteLine(line)));
                sam.Companion = video;
            }
            if (options.DiffusionCheckpoint is { } d) diffusion = new DiffusionService(d, device, options.QueueLength, options.MaxSamples);
            if (options.SegCheckpoint is { } g) seg = new SegService(g, device, options.QueueLength, options.SegPrecision);
        }
        catch
        {
            sam?.Dispose();
            diffusion?.Dispose();
            seg?.Dispose();
            throw;
        }

        // Production: no developer exception page, whatever ASPNETCORE_ENVIRONMENT says.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production, ApplicationName = typeof(TesseraServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.Services.Configure<Microsoft.Extensions.Hosting.ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "Tessera serve";
            doc.Info.Description = "SAM prompts and automatic masks, diffusion sampling with progress, semantic segmentation.";
            return Task.CompletedTask;
        }));
        builder.WebHost.ConfigureKestrel(k =>
        {
            // The handlers check the upload limit themselves (a one-line 400); Kestrel's cap only stops a runaway body.
            k.Limits.MaxRequestBodySize = ((long)options.MaxUploadMb + 1) * 1024 * 1024;
            if (ip is null) k.ListenLocalhost(options.Port);
            else k.Listen(ip, options.Port);
        });
        var app = builder.Build();
        var server = new TesseraServer(options, app, sam, video, diffusion, seg);
        server.Configure();
        return server;
    }

    /// <summary>Starts listening.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        await App.StartAsync(cancel).ConfigureAwait(false);
        _log($"tessera serve: listening on {Address} ({string.Join(", ", Loaded())})");
    }

    /// <summary>Stops: no new connections, queued work cancelled, running requests given the shutdown timeout.</summary>
    public Task StopAsync(CancellationToken cancel = default) => App.StopAsync(cancel);

    private IEnumerable<string> Loaded()
    {
        if (Sam is not null) yield return $"{(Sam.Family == SamFamily.Sam2 ? "SAM 2" : "SAM")} {Path.GetFileName(Sam.Checkpoint)}{(Video is null ? "" : " with video")}";
        if (Diffusion is not null) yield return $"diffusion {Path.GetFileName(Diffusion.Checkpoint)}";
        if (Seg is not null) yield return $"segmentation {Path.GetFileName(Seg.Checkpoint)}";
    }

    private long MaxBytes => (long)_options.MaxUploadMb * 1024 * 1024;

    private void Configure()
    {
        var app = App;
        var stopping = app.Lifetime.ApplicationStopping;
        app.Use(async (context, next) =>
        {
            var clock = Stopwatch.StartNew();
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await Fail(context, e, stopping).ConfigureAwait(false);
            }
            finally
            {
                int status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
                _log($"{context.Request.Method} {context.Request.Path} {status} {clock.Elapsed.TotalMilliseconds:F1} ms");
            }
        });

        var api = app.MapGroup("/api");
        api.MapGet("/health", () => Results.Json(new { status = "ok", uptime_s = (DateTime.UtcNow - _started).TotalSeconds }, HttpIO.Json))
            .WithSummary("Liveness: ok while the server runs.");
        api.MapGet("/models", () => Results.Json(Models(), HttpIO.Json))
            .WithSummary("What is loaded: checkpoints, parameters, devices, queues, the SAM cache, samplers and classes.");

        // The POST endpoints of the loaded services: the service is looked up first (not loaded: an error before any
        // body is read), then the body is read within the upload limit and handed over with the request's cancellation.
        RouteHandlerBuilder PostImage<TService, TResponse>(string pattern, Func<TService> service, Func<TService, byte[], CancellationToken, Task<TResponse>> call) =>
            api.MapPost(pattern, async (HttpContext ctx) =>
            {
                var s = service();
                byte[] bytes = await HttpIO.ReadBodyAsync(ctx.Request, MaxBytes, ctx.RequestAborted).ConfigureAwait(false);
                return Results.Json(await call(s, bytes, Link(ctx, stopping)).ConfigureAwait(false), HttpIO.Json);
            }).Accepts<Stream>("image/png", "image/jpeg", "application/octet-stream", "*/*").Produces<TResponse>().Errors();
        RouteHandlerBuilder PostJson<TService, TRequest, TResponse>(string pattern, Func<TService> service, Func<TService, TRequest, CancellationToken, Task<TResponse>> call) where TRequest : class =>
            api.MapPost(pattern, async (HttpContext ctx) =>
            {
                var s = service();
                var request = await HttpIO.ReadJsonAsync<TRequest>(ctx.Request, MaxBytes, ctx.RequestAborted).ConfigureAwait(false);
                return Results.Json(await call(s, request, Link(ctx, stopping)).ConfigureAwait(false), HttpIO.Json);
            }).Accepts<TRequest>("application/json", "*/*").Produces<TResponse>().Errors();
        SamService LoadedSam() => Sam ?? throw NotLoaded("SAM");

        PostImage("/sam/images", LoadedSam, (sam, bytes, cancel) => sam.UploadAsync(bytes, cancel))
          .WithSummary("Upload an image (the file's bytes as the body); its embedding is computed once and cached.");
        PostJson<SamService, SamPredictRequest, SamPredictResponse>("/sam/predict", LoadedSam, (sam, request, cancel) => sam.PredictAsync(request, cancel))
          .WithSummary("Masks for clicks and/or a box on an uploaded image; 404 with code 'evicted' when its embedding left the cache.");
        PostJson<SamService, SamAutoRequest, SamAutoResponse>("/sam/auto", LoadedSam, (sam, request, cancel) => sam.AutoAsync(request, cancel))
          .WithSummary("Segment everything: SA-1B-style annotations of the automatic mask generator.");

        api.MapPost("/diffusion/sample", async Task<IResult> (HttpContext ctx) => await SampleAsync(ctx, stopping).ConfigureAwait(false))
          .Accepts<DiffusionSampleRequest>("application/json", "*/*").Produces<DiffusionSampleResponse>().Produces<DiffusionStepEvent>(200, "text/event-stream").Errors()
          .WithSummary("Sample a grid. With 'Accept: text/event-stream': 'step' events (σ and an x̂₀ preview) then a 'result' event.");

        api.MapVideo(() => Video ?? throw (Sam is null ? NotLoaded("SAM") : new ApiException(404,
            "no SAM 2 video model is loaded: video needs a SAM 2 / SAM 2.1 checkpoint with its video weights (sam2.1_hiera_*.pt as released)", "not_loaded")), MaxBytes, stopping);

        PostImage("/seg/predict", () => Seg ?? throw NotLoaded("segmentation"), (seg, bytes, cancel) => seg.PredictAsync(bytes, cancel))
          .WithSummary("Label PNG, overlay PNG and per-class pixel shares of an image.");

        api.Map("/{**rest}", (HttpContext ctx) =>
            throw new ApiException(404, $"no endpoint {ctx.Request.Method} {ctx.Request.Path}; see /openapi.json")).ExcludeFromDescription();

        app.MapOpenApi("/openapi.json");
        foreach (var (route, file, type) in new[] { ("/", "index.html", "text/html; charset=utf-8"), ("/app.js", "app.js", "text/javascript; charset=utf-8"), ("/video.js", "video.js", "text/javascript; charset=utf-8"), ("/app.css", "app.css", "text/css; charset=utf-8") })
        {
            byte[] content = Resource(file);
            app.MapGet(route, () => Results.Bytes(content, type)).ExcludeFromDescription();
        }
        app.Lifetime.ApplicationStopped.Register(DisposeModels);
    }

    private static byte[] Resource(string file)
    {
        using var stream = typeof(TesseraServer).Assembly.GetManifestResourceStream("Tessera.Server.wwwroot." + file)
            ?? throw new InvalidOperationException($"embedded page file {file} is missing");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>The request's cancellation linked with the server's stopping.</summary>
    internal static CancellationToken Link(HttpContext ctx, CancellationToken stopping) =>
        CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, stopping).Token;

    private static ApiException NotLoaded(string what) =>
        new(404, $"no {what} model is loaded: this server was started without a {what} checkpoint", "not_loaded");

    private async Task<IResult> SampleAsync(HttpContext ctx, CancellationToken stopping)
    {
        var diffusion = Diffusion ?? throw NotLoaded("diffusion");
        var request = await HttpIO.ReadJsonAsync<DiffusionSampleRequest>(ctx.Request, MaxBytes, ctx.RequestAborted).ConfigureAwait(false);
        var cancel = Link(ctx, stopping);
        bool stream = ctx.Request.Headers.Accept.Any(a => a?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true);
        if (!stream)
        {
            return Results.Json(await diffusion.SampleAsync(request, null, cancel).ConfigureAwait(false), HttpIO.Json);
        }
        var events = Channel.CreateUnbounded<DiffusionStepEvent>();
        var work = diffusion.SampleAsync(request, e => events.Writer.TryWrite(e), cancel);
        _ = work.ContinueWith(_ => events.Writer.TryComplete(), TaskScheduler.Default);
        bool started = false;
        async Task Send(string name, object data)
        {
            if (!started)
            {
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "text/event-stream";
                ctx.Response.Headers.CacheControl = "no-cache";
                started = true;
            }
            await ctx.Response.WriteAsync($"event: {name}\ndata: {JsonSerializer.Serialize(data, HttpIO.Json)}\n\n", cancel).ConfigureAwait(false);
            await ctx.Response.Body.FlushAsync(cancel).ConfigureAwait(false);
        }
        await foreach (var e in events.Reader.ReadAllAsync(cancel).ConfigureAwait(false)) await Send("step", e).ConfigureAwait(false);
        DiffusionSampleResponse result;
        try
        {
            result = await work.ConfigureAwait(false);
        }
        catch (Exception e) when (started && e is not OperationCanceledException)
        {
            var (_, body) = Describe(e, stopping, ctx);
            await Send("error", body).ConfigureAwait(false);
            return Results.Empty;
        }
        await Send("result", result).ConfigureAwait(false);
        return Results.Empty;
    }

    private (int Status, ErrorResponse Body) Describe(Exception e, CancellationToken stopping, HttpContext ctx) => e switch
    {
        ApiException a => (a.Status, new ErrorResponse(OneLine(a.Message), a.Code)),
        TesseraUserException t => (400, new ErrorResponse(OneLine(RequestFields.Message(t)))),
        BadHttpRequestException b => (400, new ErrorResponse(OneLine(b.StatusCode == 413 ? $"upload is larger than the server's limit of {_options.MaxUploadMb} MiB" : b.Message))),
        OperationCanceledException when stopping.IsCancellationRequested && !ctx.RequestAborted.IsCancellationRequested => (503, new ErrorResponse("the server is shutting down", "stopping")),
        _ => (500, new ErrorResponse($"internal error ({e.GetType().Name}); the server log has the request")),
    };

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    private async Task Fail(HttpContext ctx, Exception e, CancellationToken stopping)
    {
        if (ctx.RequestAborted.IsCancellationRequested) return; // the client is gone: nobody to answer
        var (status, body) = Describe(e, stopping, ctx);
        if (status == 500) _log($"error in {ctx.Request.Method} {ctx.Request.Path}: {e.GetType().Name}: {OneLine(e.Message)}"
            + (Environment.GetEnvironmentVariable("TESSERA_DEBUG") == "1" ? Environment.NewLine + e : ""));
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        if (status == 429) ctx.Response.Headers.RetryAfter = "1";
        await ctx.Response.WriteAsJsonAsync(body, HttpIO.Json).ConfigureAwait(false);
    }

    private Dictionary<string, object?> Models()
    {
        var models = new Dictionary<string, object?>();
        if (Sam is { } s)
        {
            models["sam"] = Describe(s, [.. s.Info(),
                ("cache", new { images = s.Cache.Count, bytes = s.Cache.Bytes, budget_bytes = s.Cache.BudgetBytes, evictions = s.Cache.Evictions })]);
            // present only when the clips of the Video tab can be tracked (a SAM 2 checkpoint with its video weights)
            if (Video is { } v)
                ((Dictionary<string, object?>)models["sam"]!)["video"] = new { max_frames = v.MaxFrames, max_frame_pixels = VideoService.MaxFramePixels, max_objects = VideoService.MaxObjects, max_clips = v.Sessions.Capacity, clips = v.Sessions.Count };
        }
        if (Diffusion is { } d)
        {
            models["diffusion"] = Describe(d, ("kind", EnumNames.Name(d.Config.Kind)), ("formulation", d.Config.Formulation.ToString().ToLowerInvariant()),
                ("image_size", d.Config.ImageSize), ("channels", d.Config.Channels), ("classes", d.Config.Classes), ("samplers", SamplerRegistry.Names),
                ("max_samples", _options.MaxSamples));
        }
        if (Seg is { } g)
            models["seg"] = Describe(g, ("model", EnumNames.Name(g.Config.Model)), ("classes", g.Labels.Names), ("colors", g.Labels.Colors),
                ("inference", EnumNames.Name(g.Inference.Mode)));
        return models;
    }

    /// <summary>A model's entry: checkpoint, size and device, then its own <paramref name="fields"/>, then its queue.</summary>
    private static Dictionary<string, object?> Describe(IModelService model, params (string Key, object? Value)[] fields)
    {
        var entry = new Dictionary<string, object?>
        {
            ["checkpoint"] = Path.GetFileName(model.Checkpoint),
            ["parameters"] = model.Parameters,
            ["bytes"] = model.Parameters * 4,
            ["device"] = model.Device,
        };
        foreach (var (key, value) in fields) entry[key] = value;
        entry["queue"] = new { pending = model.Queue.Pending, capacity = model.Queue.Capacity, rejected = model.Queue.Rejected };
        return entry;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync().ConfigureAwait(false);
        DisposeModels();
    }

    private int _modelsDisposed;

    private void DisposeModels()
    {
        if (Interlocked.Exchange(ref _modelsDisposed, 1) == 1) return;
        Video?.Sessions.Dispose(); // runs cancelled before the SAM queue closes; the rest goes with SamService (Companion)
        Sam?.Dispose();
        Diffusion?.Dispose();
        Seg?.Dispose();
    }
}

/// <summary>OpenAPI metadata shared by the endpoints.</summary>
internal static class EndpointMetadata
{
    /// <summary>The error answers every endpoint may give.</summary>
    public static RouteHandlerBuilder Errors(this RouteHandlerBuilder b) =>
        b.Produces<ErrorResponse>(400).Produces<ErrorResponse>(404).Produces<ErrorResponse>(429).Produces<ErrorResponse>(503);
}
