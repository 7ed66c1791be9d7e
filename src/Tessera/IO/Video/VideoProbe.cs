using System.Text.Json;

namespace Tessera.IO.Video;

/// <summary>What <c>ffprobe</c> reports of a file's first video stream.</summary>
internal sealed record VideoProbe(int Width, int Height, double? FramesPerSecond, int? FrameCount, string Codec)
{
    /// <summary>Runs <paramref name="ffprobe"/> on <paramref name="path"/> and reads its JSON answer.</summary>
    /// <exception cref="TesseraFormatException">ffprobe cannot read the file, or it has no video stream.</exception>
    public static VideoProbe Run(string ffprobe, string path, CancellationToken cancellationToken)
    {
        var errors = new StderrTail();
        string[] args = ["-hide_banner", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames", "-of", "json", Ffmpeg.Input(path)];
        var process = Ffmpeg.Start(ffprobe, args, errors);
        string json;
        try
        {
            using (cancellationToken.Register(() => { try { process.Kill(true); } catch (InvalidOperationException) { } }))
            {
                json = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (process.ExitCode != 0)
                throw new TesseraFormatException(path, $"not a video file ffmpeg can read ({errors.Last($"ffprobe exit code {process.ExitCode}")})");
        }
        finally
        {
            Ffmpeg.Stop(process);
        }
        return Parse(json, path);
    }

    /// <summary>Reads ffprobe's <c>-of json</c> answer for <paramref name="path"/>.</summary>
    internal static VideoProbe Parse(string json, string path)
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("streams", out var streams) || streams.GetArrayLength() == 0)
            throw new TesseraFormatException(path, "no video stream (ffprobe found none)");
        var s = streams[0];
        int width = s.TryGetProperty("width", out var w) ? w.GetInt32() : 0, height = s.TryGetProperty("height", out var h) ? h.GetInt32() : 0;
        if (width <= 0 || height <= 0) throw new TesseraFormatException(path, "the video stream has no frame size");
        double? fps = Rate(s, "avg_frame_rate") ?? Rate(s, "r_frame_rate");
        int? count = s.TryGetProperty("nb_frames", out var n) && int.TryParse(n.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out int c) ? c : null;
        string codec = s.TryGetProperty("codec_name", out var k) ? k.GetString() ?? "?" : "?";
        return new VideoProbe(width, height, fps, count, codec);
    }

    // "num/den"; "0/0" (unknown) is null
    private static double? Rate(JsonElement stream, string key)
    {
        if (!stream.TryGetProperty(key, out var v) || v.GetString() is not string text) return null;
        var parts = text.Split('/');
        if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double num)
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double den) || num <= 0 || den <= 0) return null;
        return num / den;
    }
}
