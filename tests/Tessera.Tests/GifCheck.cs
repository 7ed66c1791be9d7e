using System.Buffers.Binary;
using System.Diagnostics;

namespace Tessera.Tests;

/// <summary>
/// Reads an animated GIF back independently of the code that wrote it: <c>ffprobe</c> gives the size and each frame's
/// display time (its packets' durations), ffmpeg's GIF decoder the frames as composed RGB (every frame once), and the
/// loop count is read from the NETSCAPE2.0 application extension by the GIF89a layout (sub-block 1, then a little-endian
/// 16-bit count; 0 = for ever). ffmpeg must be installed (CI installs it).
/// </summary>
internal static class GifCheck
{
    internal sealed record Gif(int Width, int Height, int? Loop, double[] Seconds, byte[][] Rgb);

    private static byte[] Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        using var bytes = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(bytes);
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed: {errors.Result}");
        return bytes.ToArray();
    }

    public static Gif Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.Equal("GIF89a"u8.ToArray(), file[..6]);
        int app = file.AsSpan().IndexOf("NETSCAPE2.0"u8);
        int? loop = app >= 0 && file[app + 11] == 3 && file[app + 12] == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(app + 13)) : null;

        using var probe = JsonDocument.Parse(Run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height:packet=duration_time", "-of", "json", path));
        var stream = probe.RootElement.GetProperty("streams")[0];
        int w = stream.GetProperty("width").GetInt32(), h = stream.GetProperty("height").GetInt32();
        double[] seconds = [.. probe.RootElement.GetProperty("packets").EnumerateArray()
            .Select(p => double.Parse(p.GetProperty("duration_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture))];

        byte[] raw = Run("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
        int frameBytes = w * h * 3;
        Assert.Equal(0, raw.Length % frameBytes);
        return new Gif(w, h, loop, seconds, [.. raw.Chunk(frameBytes)]);
    }

    /// <summary>Mean absolute difference of two 8-bit sample arrays, in levels (0–255).</summary>
    public static double MeanAbsoluteDifference(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        long sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i] - b[i]);
        return (double)sum / a.Length;
    }
}
