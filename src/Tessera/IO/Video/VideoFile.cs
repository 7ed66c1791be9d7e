using System.Diagnostics;

namespace Tessera.IO.Video;

/// <summary>
/// A video file read through Debian's <c>ffmpeg</c> run as a process (<see cref="Open"/> probes it with <c>ffprobe</c>;
/// <see cref="ReadFrame"/> streams its first video stream decoded to 8-bit RGB over a pipe, one frame at a time, so a long
/// clip is never held in memory). Every decoded frame comes out once, in decoding order, at the stream's coded size:
/// no frame is dropped or repeated to make a constant rate, rotation metadata is ignored (as the decord reader of the
/// official SAM 2 code ignores it), and the colour conversion to RGB is ffmpeg's default (swscale).
/// </summary>
public sealed class VideoFile : IDisposable
{
    private readonly string _ffmpeg;
    private readonly StderrTail _errors = new();
    private Process? _decoder;
    private Stream? _pixels;
    private bool _ended, _disposed;

    private VideoFile(string path, string ffmpeg, VideoProbe probe)
    {
        Path = path;
        _ffmpeg = ffmpeg;
        Width = probe.Width;
        Height = probe.Height;
        FramesPerSecond = probe.FramesPerSecond;
        DeclaredFrameCount = probe.FrameCount;
        Codec = probe.Codec;
    }

    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }
    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }
    /// <summary>Frames per second (the stream's average rate, else its base rate), or null when the file does not say.</summary>
    public double? FramesPerSecond { get; }
    /// <summary>The frame count the container declares, or null when it declares none (Matroska, for one); the frames read may differ.</summary>
    public int? DeclaredFrameCount { get; }
    /// <summary>The codec of the video stream as ffprobe names it (e.g. h264, ffv1).</summary>
    public string Codec { get; }
    /// <summary>Bytes of one RGB frame: <see cref="Width"/> × <see cref="Height"/> × 3.</summary>
    public int FrameBytes => checked(Width * Height * 3);
    /// <summary>Frames read so far.</summary>
    public int FramesRead { get; private set; }

    /// <summary>Probes <paramref name="path"/> with <c>ffprobe</c>.</summary>
    /// <exception cref="TesseraUserException">ffmpeg is not installed, or the file does not exist.</exception>
    /// <exception cref="TesseraFormatException">The file is not a video ffmpeg can read, or has no video stream.</exception>
    public static VideoFile Open(string path, CancellationToken cancellationToken = default)
    {
        if (Directory.Exists(path)) throw new TesseraUserException(nameof(path), $"'{path}' is a folder; expected a video file");
        if (!File.Exists(path)) throw new TesseraUserException(nameof(path), $"video file '{path}' does not exist");
        string ffprobe = Ffmpeg.Find("ffprobe"), ffmpeg = Ffmpeg.Find("ffmpeg");
        var probe = VideoProbe.Run(ffprobe, path, cancellationToken);
        return new VideoFile(path, ffmpeg, probe);
    }

    /// <summary>
    /// Reads the next frame into <paramref name="rgb"/> (<see cref="FrameBytes"/> bytes, rows top to bottom, R G B per
    /// pixel); false after the last frame. The decoder starts at the first call.
    /// </summary>
    /// <exception cref="TesseraFormatException">The decoder failed (a damaged file) or stopped inside a frame.</exception>
    public bool ReadFrame(Span<byte> rgb, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (rgb.Length != FrameBytes) throw new ArgumentException($"expected a buffer of {FrameBytes} bytes, got {rgb.Length}", nameof(rgb));
        if (_ended) return false;
        cancellationToken.ThrowIfCancellationRequested();
        _pixels ??= StartDecoder();
        int filled = 0;
        while (filled < rgb.Length)
        {
            int n = _pixels.Read(rgb[filled..]);
            if (n == 0) break;
            filled += n;
        }
        if (filled == rgb.Length)
        {
            FramesRead++;
            return true;
        }
        _ended = true;
        _decoder!.WaitForExit();
        if (_decoder.ExitCode != 0)
            throw new TesseraFormatException(Path, $"ffmpeg could not decode frame {FramesRead} ({_errors.Last($"exit code {_decoder.ExitCode}")})");
        if (filled != 0) throw new TesseraFormatException(Path, $"ffmpeg stopped inside frame {FramesRead} ({filled} of {rgb.Length} bytes)");
        return false;
    }

    private Stream StartDecoder()
    {
        // -noautorotate: the coded frames, as ffprobe sized them; -fps_mode passthrough: every decoded frame once
        string[] args = ["-nostdin", "-hide_banner", "-v", "error", "-noautorotate", "-i", Ffmpeg.Input(Path),
            "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"];
        _decoder = Ffmpeg.Start(_ffmpeg, args, _errors);
        return _decoder.StandardOutput.BaseStream;
    }

    /// <summary>Stops the decoder if it still runs.</summary>
    public void Dispose()
    {
        _disposed = _ended = true;
        _pixels = null;
        if (_decoder is not null) Ffmpeg.Stop(_decoder);
        _decoder = null;
    }
}
