using Tessera.IO;
using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Server;

/// <summary>
/// One uploaded clip: its frames (frame images in its folder's frames/ as JPEGs in the official layout, or a video file's
/// decoded frames in a temporary file that goes with them), its folder (runs/N/ the output of each tracking run as
/// <see cref="Sam2TrackFolder"/> writes it), the video state (made on the first run, its frame features cached between
/// runs) and where the latest run stands. Disposing it cancels a run; the state and the folder go once no run holds them.
/// </summary>
public sealed class VideoSession : IDisposable
{
    private readonly Lock _lock = new();
    private readonly SortedSet<int> _written = [];
    private CancellationTokenSource? _cancel;
    private Sam2TrackFolder? _output;
    private string _state = "idle";
    private int _run, _done, _total;
    private int[] _objects = [];
    private double? _secondsPerFrame;
    private string? _error;
    private bool _busy, _disposed;

    /// <summary>Creates the session of the frames in <paramref name="folder"/>/frames.</summary>
    public VideoSession(string id, string folder, Sam2VideoFrames frames)
    {
        Id = id;
        Folder = folder;
        Frames = frames;
    }

    /// <summary>The clip's id.</summary>
    public string Id { get; }

    /// <summary>The session's folder (deleted with it).</summary>
    public string Folder { get; }

    /// <summary>The frames.</summary>
    public Sam2VideoFrames Frames { get; }

    /// <summary>The video state, made on the first run (on the model's thread).</summary>
    internal Sam2VideoState? State { get; set; }

    /// <summary>Where the latest run stands.</summary>
    public VideoTrackStatus Status()
    {
        lock (_lock) return new VideoTrackStatus(_state, _run, _done, _total, [.. _written], _objects, _secondsPerFrame, _error);
    }

    /// <summary>
    /// Frame <paramref name="frame"/> as a JPEG, for the page: a frame image as uploaded (its JPEG file), a video file's
    /// frame encoded from its decoded pixels at quality <see cref="VideoUpload.PngQuality"/> (the model reads the decoded pixels).
    /// </summary>
    /// <exception cref="ApiException">404: no such frame.</exception>
    /// <exception cref="FileNotFoundException">The clip's files are gone (evicted meanwhile).</exception>
    /// <exception cref="ObjectDisposedException">A video file's decoded frames are gone (evicted meanwhile).</exception>
    public byte[] FrameJpeg(int frame)
    {
        if (frame < 0 || frame >= Frames.Count) throw new ApiException(404, $"frame {frame} is not in the clip (0–{Frames.Count - 1})", "unknown_frame");
        if (Frames.Paths.Count > 0) return File.ReadAllBytes(Frames.Paths[frame]);
        using var scope = TorchSharp.torch.NewDisposeScope();
        return ImageIO.EncodeJpeg(Frames.Rgb(frame).permute(2, 0, 1), VideoUpload.PngQuality);
    }

    /// <summary>The label PNG (<paramref name="overlay"/> false) or overlay PNG of frame <paramref name="frame"/> of the latest run.</summary>
    /// <exception cref="ApiException">404: the frame has no result (yet).</exception>
    public string ResultFile(int frame, bool overlay)
    {
        lock (_lock)
        {
            if (_output is null || !_written.Contains(frame))
                throw new ApiException(404, $"frame {frame} has no tracked masks{(_run == 0 ? ": track the clip first" : $" in run {_run}")}", "no_result");
            return overlay ? _output.OverlayFile(frame) : _output.LabelFile(frame);
        }
    }

    /// <summary>Marks a new run as queued and returns its number and cancellation (linked to <paramref name="stopping"/>).</summary>
    /// <exception cref="ApiException">409: a run is queued or tracking.</exception>
    internal (int Run, CancellationToken Cancel) Begin(int total, int[] objectIds, CancellationToken stopping)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_busy) throw new ApiException(409, $"clip '{Id}' is already being tracked (run {_run}); cancel it first (DELETE …/track) or wait", "busy");
            _busy = true;
            _cancel?.Dispose();
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            _run++;
            (_state, _done, _total, _objects, _secondsPerFrame, _error, _output) = ("queued", 0, total, objectIds, null, null, null);
            _written.Clear();
            return (_run, _cancel.Token);
        }
    }

    /// <summary>The folder of run <paramref name="run"/> (the previous run's results are deleted).</summary>
    internal string RunFolder(int run)
    {
        string runs = Path.Combine(Folder, "runs");
        if (Directory.Exists(runs)) Directory.Delete(runs, recursive: true);
        return Path.Combine(runs, run.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The run started writing to <paramref name="output"/>.</summary>
    internal void Started(Sam2TrackFolder output)
    {
        lock (_lock) (_state, _output) = ("tracking", output);
    }

    /// <summary>A frame step of the run is written.</summary>
    internal void Report(Sam2TrackProgress progress)
    {
        lock (_lock)
        {
            _done = progress.Done;
            _written.Add(progress.Frame);
        }
    }

    /// <summary>The run ended: done with <paramref name="summary"/>, cancelled, or failed with <paramref name="error"/>.</summary>
    internal void Ended(Sam2TrackSummary? summary, bool cancelled, string? error)
    {
        bool dispose;
        lock (_lock)
        {
            _state = summary is not null ? "done" : cancelled ? "cancelled" : "failed";
            _secondsPerFrame = summary is null ? null : Math.Round(summary.SecondsPerFrame, 4);
            _error = error;
            _busy = false;
            dispose = _disposed;
        }
        if (dispose) Release();
    }

    /// <summary>Cancels a queued or running run; false when none was.</summary>
    public bool Cancel()
    {
        lock (_lock)
        {
            if (!_busy) return false;
            _cancel?.Cancel();
            return true;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        bool now;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _cancel?.Cancel();
            now = !_busy;
        }
        // a run still holding the state releases it when it ends (Ended)
        if (now) Release();
    }

    private void Release()
    {
        State?.Dispose();
        State = null;
        Frames.Dispose();
        _cancel?.Dispose();
        try
        {
            if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // a response still streaming a file: the server's root folder is deleted at shutdown
        }
    }
}
