using Tessera.IO.Video;

namespace Tessera.Tests;

/// <summary>
/// <see cref="GifWriter"/> through Debian's ffmpeg (CI installs it), read back by <see cref="GifCheck"/> (ffprobe and
/// ffmpeg's GIF decoder): frames of a few flat colours come back exactly (the palette holds every colour, so no
/// quantisation error and nothing for the dithering to spread), with their count, size and display time; a failing
/// encoder leaves no file.
/// </summary>
public sealed class GifWriterTests
{
    // Frame k: four vertical bands of pure colours, rotated by k bands.
    private static byte[] Bands(int k, int w, int h)
    {
        (byte R, byte G, byte B)[] colours = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (250, 250, 250)];
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = colours[(x * 4 / w + k) % 4];
                int i = (y * w + x) * 3;
                (rgb[i], rgb[i + 1], rgb[i + 2]) = (r, g, b);
            }
        return rgb;
    }

    /// <summary>A program named ffmpeg in <paramref name="folder"/> that reads nothing, says "Unknown encoder gif" and exits 1.</summary>
    internal static string FailingFfmpeg(string folder)
    {
        string fake = Path.Combine(folder, "ffmpeg");
        File.WriteAllText(fake, "#!/bin/sh\necho 'Unknown encoder gif' >&2\nexit 1\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return fake;
    }

    [Fact]
    public void Flat_colour_frames_come_back_exactly_at_their_rate()
    {
        using var dir = new TempDir();
        string path = dir.File("bands.gif");
        GifWriter.Write(Ffmpeg.Find("ffmpeg"), path, 32, 12, 3, k => Bands(k, 32, 12), delayMilliseconds: 40);
        var gif = GifCheck.Read(path);
        Assert.Equal((32, 12, 0), (gif.Width, gif.Height, gif.Loop));
        Assert.Equal([0.04, 0.04, 0.04], gif.Seconds);
        Assert.Equal(3, gif.Rgb.Length);
        for (int k = 0; k < 3; k++) Assert.Equal(Bands(k, 32, 12), gif.Rgb[k]);
        Assert.Equal(["bands.gif"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_failing_encoder_is_an_error_with_its_message_and_leaves_no_file()
    {
        using var dir = new TempDir();
        string fake = FailingFfmpeg(dir.Path);
        string path = dir.File("out.gif");
        var e = Assert.Throws<IOException>(() => GifWriter.Write(fake, path, 32, 12, 100, k => Bands(k, 32, 12), 100));
        Assert.Contains("Unknown encoder gif", e.Message);
        Assert.Equal(["ffmpeg"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }
}
