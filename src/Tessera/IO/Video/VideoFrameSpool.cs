using Microsoft.Win32.SafeHandles;

namespace Tessera.IO.Video;

/// <summary>
/// Decoded RGB frames kept for random access in a temporary file (deleted when disposed or when the process ends the
/// handle), so that memory holds one frame however long the clip: <see cref="FrameBytes"/> bytes a frame on disk.
/// Reads are positional, safe from several threads.
/// </summary>
internal sealed class VideoFrameSpool : IDisposable
{
    private readonly SafeFileHandle _file;

    private VideoFrameSpool(SafeFileHandle file, int width, int height)
    {
        _file = file;
        Width = width;
        Height = height;
    }

    /// <summary>Frame width.</summary>
    public int Width { get; }
    /// <summary>Frame height.</summary>
    public int Height { get; }
    /// <summary>Bytes of one frame.</summary>
    public int FrameBytes => Width * Height * 3;
    /// <summary>Frames stored.</summary>
    public int Count { get; private set; }

    /// <summary>Decodes every frame of <paramref name="video"/> into a new spool; more than <paramref name="maxFrames"/> is refused as soon as it is read.</summary>
    /// <exception cref="TesseraFormatException">The video could not be decoded or has no frames.</exception>
    /// <exception cref="TesseraUserException">The video has more than <paramref name="maxFrames"/> frames.</exception>
    public static VideoFrameSpool Decode(VideoFile video, CancellationToken cancellationToken, int maxFrames = int.MaxValue)
    {
        string temp = Path.Combine(Path.GetTempPath(), $"tessera-video-{Environment.ProcessId}-{Guid.NewGuid():N}.rgb");
        var spool = new VideoFrameSpool(File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose), video.Width, video.Height);
        try
        {
            var frame = new byte[video.FrameBytes];
            while (video.ReadFrame(frame, cancellationToken))
            {
                if (spool.Count == maxFrames) throw new TesseraUserException(nameof(maxFrames), $"more than {maxFrames} frames; a clip has at most {maxFrames} frames");
                RandomAccess.Write(spool._file, frame, (long)spool.Count * spool.FrameBytes);
                spool.Count++;
            }
            if (spool.Count == 0) throw new TesseraFormatException(video.Path, "the video has no frames");
            return spool;
        }
        catch
        {
            spool.Dispose();
            throw;
        }
    }

    /// <summary>Copies frame <paramref name="index"/> into <paramref name="rgb"/> (<see cref="FrameBytes"/> bytes).</summary>
    public void Read(int index, Span<byte> rgb)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        long offset = (long)index * FrameBytes;
        for (int done = 0; done < FrameBytes;)
        {
            int n = RandomAccess.Read(_file, rgb[done..FrameBytes], offset + done);
            if (n == 0) throw new IOException($"short read of spooled frame {index}: {done} of {FrameBytes} bytes");
            done += n;
        }
    }

    /// <summary>Deletes the temporary file.</summary>
    public void Dispose() => _file.Dispose();
}
