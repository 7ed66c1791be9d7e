namespace Tessera.IO.Video;

/// <summary>
/// Writes an animated GIF through Debian's <c>ffmpeg</c> run as a process (Tessera has no GIF encoder of its own): the
/// frames are piped in as raw 8-bit RGB, one 256-colour palette is made from all of them in one pass (the filter graph
/// <c>split[a][b];[a]palettegen[p];[b][p]paletteuse</c>: palettegen's and paletteuse's defaults, so Sierra-2-4A
/// dithering), and ffmpeg's GIF muxer writes the file, looping for ever. The GIF comes back over ffmpeg's stdout into
/// <see cref="AtomicFile"/>, so a failed or cancelled encoding leaves no torn file. Memory here holds one frame; ffmpeg
/// holds the frames until the palette is made (palettegen needs all of them).
/// </summary>
internal static class GifWriter
{
    /// <summary>
    /// Encodes <paramref name="frameCount"/> frames of <paramref name="width"/> × <paramref name="height"/>
    /// (<paramref name="frame"/> gives frame k's interleaved R G B samples, rows top to bottom) with <paramref name="ffmpeg"/>
    /// into <paramref name="path"/>, each frame shown <paramref name="delayMilliseconds"/> ms (GIF stores centiseconds:
    /// ffmpeg rounds each frame's display time to them).
    /// </summary>
    /// <exception cref="IOException">ffmpeg failed (its last stderr line in the message).</exception>
    public static void Write(string ffmpeg, string path, int width, int height, int frameCount, Func<int, byte[]> frame, int delayMilliseconds,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(delayMilliseconds, 1);
        string[] args = ["-nostdin", "-hide_banner", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{width}x{height}", "-framerate", $"1000/{delayMilliseconds}", "-i", "pipe:0",
            "-filter_complex", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0", "-f", "gif", "pipe:1"];
        AtomicFile.Write(path, output =>
        {
            var errors = new StderrTail();
            var process = Ffmpeg.Start(ffmpeg, args, errors, writeInput: true);
            try
            {
                var copy = process.StandardOutput.BaseStream.CopyToAsync(output, cancellationToken);
                try
                {
                    var input = process.StandardInput.BaseStream;
                    for (int k = 0; k < frameCount; k++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        byte[] pixels = frame(k);
                        if (pixels.Length != width * height * 3) throw new ArgumentException($"frame {k}: expected {width * height * 3} samples, got {pixels.Length}", nameof(frame));
                        input.Write(pixels);
                    }
                    process.StandardInput.Close();
                }
                catch (IOException) when (process.WaitForExit(10_000) && process.ExitCode != 0)
                {
                    // ffmpeg stopped reading (it failed): its own message says why, below
                }
                copy.GetAwaiter().GetResult();
                process.WaitForExit();
                if (process.ExitCode != 0)
                    throw new IOException($"ffmpeg could not write the GIF '{path}' ({errors.Last($"exit code {process.ExitCode}")})");
            }
            finally
            {
                Ffmpeg.Stop(process);
            }
        });
    }
}
