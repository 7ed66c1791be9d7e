using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam2.Modeling;
using Tessera.Segmentation.Sam2.Video;
using TorchSharp;

namespace Tessera.Server;

/// <summary>
/// SAM 2 video over the served SAM 2 model: clips uploaded as frame images into <see cref="VideoSessions"/>, tracking runs
/// of <see cref="VideoTracking.Run"/> (the loop of <c>tessera sam track</c>, its <see cref="Sam2TrackFolder"/> output) in the
/// SAM model's queue, cancellable, their progress polled. Made by <see cref="TryCreate"/> when the checkpoint has video weights.
/// </summary>
public sealed class VideoService : IDisposable
{
    /// <summary>Most pixels a frame may have (3840 × 2160).</summary>
    public const long MaxFramePixels = 3840L * 2160;

    /// <summary>Most objects one run may track.</summary>
    public const int MaxObjects = 16;

    private readonly SamService _sam;
    private readonly Sam2VideoPredictor _predictor;
    private readonly Action<string> _log;
    private readonly string _root;

    private VideoService(SamService sam, Sam2VideoPredictor predictor, int maxFrames, int maxClips, Action<string> log)
    {
        _sam = sam;
        _predictor = predictor;
        _log = log;
        MaxFrames = maxFrames;
        Sessions = new VideoSessions(maxClips);
        _root = Path.Combine(Path.GetTempPath(), "tessera-serve-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_root);
    }

    /// <summary>
    /// The video service over <paramref name="sam"/>'s model when it is SAM 2 with the video weights (memory encoder,
    /// memory attention, …), else null. Clips of at most <paramref name="maxFrames"/> frames; <paramref name="maxClips"/> kept.
    /// </summary>
    public static VideoService? TryCreate(SamService sam, int maxFrames, int maxClips, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(sam);
        if (sam.Model is not Sam2Model model || model.VideoWeights.Count == 0) return null;
        return new VideoService(sam, new Sam2VideoPredictor(model), maxFrames, maxClips, log);
    }

    /// <summary>The uploaded clips.</summary>
    public VideoSessions Sessions { get; }

    /// <summary>Most frames a clip may have.</summary>
    public int MaxFrames { get; }

    /// <summary>Writes the frame images of a multipart upload as a clip and opens its session.</summary>
    /// <exception cref="ApiException">400: no frames, too many, not JPEG/PNG, too large, or of different sizes.</exception>
    public async Task<VideoResponse> UploadFramesAsync(IReadOnlyList<IFormFile> files, CancellationToken cancel) =>
        await UploadAsync(folder => VideoUpload.WriteFramesAsync(files, Path.Combine(folder, "frames"), MaxFrames, MaxFramePixels, cancel)).ConfigureAwait(false);

    /// <summary>Decodes an uploaded video file (through ffmpeg) as a clip and opens its session.</summary>
    /// <exception cref="ApiException">400: not a readable video, too many frames or too large ones.</exception>
    public async Task<VideoResponse> UploadVideoAsync(IFormFile video, CancellationToken cancel) =>
        await UploadAsync(folder => VideoUpload.OpenVideoAsync(video, Path.Combine(folder, "upload.video"), MaxFrames, MaxFramePixels, cancel)).ConfigureAwait(false);

    private async Task<VideoResponse> UploadAsync(Func<string, Task<Sam2VideoFrames>> write)
    {
        string id = Guid.NewGuid().ToString("N");
        string folder = Path.Combine(_root, id);
        try
        {
            var frames = await write(folder).ConfigureAwait(false);
            Sessions.Add(new VideoSession(id, folder, frames));
            return new VideoResponse(id, frames.Count, frames.Width, frames.Height);
        }
        catch
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Checks the prompts and queues a tracking run of clip <paramref name="id"/>; its status (queued) at once. The run
    /// ends with <paramref name="stopping"/> (the server stopping) or <see cref="VideoSession.Cancel"/>.
    /// </summary>
    /// <exception cref="ApiException">400 bad prompts or direction (the field named), 404 unknown clip, 409 a run in progress, 429 the model's queue is full.</exception>
    public VideoTrackStatus Track(string id, VideoTrackRequest request, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = Sessions.Get(id);
        var prompts = Prompts(request.Prompts);
        var direction = request.Direction?.ToLowerInvariant() switch
        {
            null or "forward" => Sam2TrackDirection.Forward,
            "backward" => Sam2TrackDirection.Backward,
            "both" => Sam2TrackDirection.Both,
            _ => throw ApiException.BadRequest($"direction: '{request.Direction}'; expected forward, backward or both"),
        };
        VideoTracking.Validate(prompts, session.Frames);
        var ids = prompts.Select(p => p.ObjectId).Distinct().Order().ToArray();
        if (ids.Length > MaxObjects) throw ApiException.BadRequest($"prompts: {ids.Length} objects; at most {MaxObjects} per run");
        var options = new Sam2TrackOptions { Direction = direction };
        var (run, cancel) = session.Begin(VideoTracking.Steps(prompts, session.Frames.Count, direction), ids, stopping);
        var work = _sam.Queue.RunAsync(token => RunOnModel(session, run, prompts, options, token), cancel);
        if (work.IsFaulted)
        {
            var e = work.Exception!.InnerException!;
            session.Ended(null, false, e.Message);
            ExceptionDispatchInfo.Throw(e);
        }
        _ = work.ContinueWith(t =>
        {
            var e = t.Exception?.InnerException;
            bool cancelled = t.IsCanceled || e is OperationCanceledException;
            string? error = t.IsFaulted && !cancelled ? Describe(e!) : null;
            if (error is not null) _log($"video track of clip {id} run {run} failed: {error}");
            session.Ended(t.IsCompletedSuccessfully ? t.Result : null, cancelled, error);
        }, TaskScheduler.Default);
        return session.Status();
    }

    // On the model's thread: the state made once per clip (frame features cached between runs), emptied before and after.
    private Sam2TrackSummary RunOnModel(VideoSession session, int run, IReadOnlyList<Sam2TrackPrompt> prompts, Sam2TrackOptions options, CancellationToken cancel)
    {
        using var scope = torch.NewDisposeScope();
        session.State ??= _predictor.InitState(session.Frames);
        var state = session.State;
        state.Reset();
        try
        {
            var output = new Sam2TrackFolder(session.RunFolder(run), session.Frames, options);
            session.Started(output);
            return VideoTracking.Run(_predictor, state, prompts, options, output, new OnThread(session.Report), cancel);
        }
        finally
        {
            state.Reset();
        }
    }

    private static string Describe(Exception e) => e switch
    {
        TesseraUserException t => RequestFields.Message(t),
        ApiException a => a.Message,
        _ => $"internal error ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")})",
    };

    // The request's prompts as the library takes them; each bad value named by its place in the request.
    private static List<Sam2TrackPrompt> Prompts(VideoPrompt[]? prompts)
    {
        if (prompts is null || prompts.Length == 0) throw ApiException.BadRequest("prompts: required (at least one click or box on a frame)");
        var list = new List<Sam2TrackPrompt>();
        for (int i = 0; i < prompts.Length; i++)
        {
            var p = prompts[i] ?? throw ApiException.BadRequest($"prompts[{i}]: null; expected an object with frame, object_id, points and/or box");
            var points = (p.Points ?? []).Select((v, j) => SamPoint.FromValues(v ?? [], $"prompts[{i}].points[{j}]")).Select(s => (s.X, s.Y, s.Positive ? 1 : 0)).ToList();
            var box = p.Box is { } b ? SamBox.FromValues(b, $"prompts[{i}].box") : (SamBox?)null;
            if (points.Count == 0 && box is null) throw ApiException.BadRequest($"prompts[{i}]: no points and no box");
            list.Add(new Sam2TrackPrompt(p.Frame, p.ObjectId ?? 1) { Points = points, Box = box is { } x ? (x.X0, x.Y0, x.X1, x.Y1) : null });
        }
        return list;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Sessions.Dispose();
        _predictor.Dispose();
        try
        {
            if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
        }
        catch (IOException e)
        {
            _log($"could not delete {_root}: {e.Message}");
        }
    }

    /// <summary>Progress reported on the reporting thread (Progress&lt;T&gt; would post elsewhere, after the run).</summary>
    private sealed class OnThread(Action<Sam2TrackProgress> report) : IProgress<Sam2TrackProgress>
    {
        public void Report(Sam2TrackProgress value) => report(value);
    }
}
