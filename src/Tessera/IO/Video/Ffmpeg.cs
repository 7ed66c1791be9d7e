using System.Diagnostics;

namespace Tessera.IO.Video;

/// <summary>
/// Finds and starts the <c>ffmpeg</c> and <c>ffprobe</c> programs (Debian's <c>ffmpeg</c> package, 5.1 or later) that
/// decode video files and encode the GIF previews: Tessera has no demuxer or codec of its own. The programs are looked up on PATH.
/// </summary>
internal static class Ffmpeg
{
    /// <summary>The message of a missing program.</summary>
    internal static string NotFound(string tool) =>
        $"{tool} not found on PATH: install Debian's ffmpeg (apt-get install ffmpeg, version 5.1 or later) to read video files";

    /// <summary>
    /// The full path of <paramref name="tool"/> on <paramref name="searchPath"/> (a PATH-style list; null: the PATH
    /// environment variable).
    /// </summary>
    /// <exception cref="TesseraUserException">The program is on none of the folders.</exception>
    public static string Find(string tool, string? searchPath = null) => TryFind(tool, searchPath) ?? throw new TesseraUserException(NotFound(tool));

    /// <summary>The full path of <paramref name="tool"/> on <paramref name="searchPath"/> (null: PATH), or null where it is on none of the folders.</summary>
    public static string? TryFind(string tool, string? searchPath = null)
    {
        searchPath ??= Environment.GetEnvironmentVariable("PATH") ?? "";
        string[] names = OperatingSystem.IsWindows() ? [tool + ".exe", tool] : [tool];
        foreach (var folder in searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in names)
            {
                string candidate = Path.Combine(folder, name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>
    /// Starts <paramref name="program"/> with <paramref name="arguments"/>, stdout (and stdin where
    /// <paramref name="writeInput"/>) redirected for the caller and stderr collected (its last lines, for error
    /// messages) by <paramref name="errors"/>.
    /// </summary>
    public static Process Start(string program, IEnumerable<string> arguments, StderrTail errors, bool writeInput = false)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = writeInput,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        process.ErrorDataReceived += (_, e) => errors.Add(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new TesseraUserException(NotFound(Path.GetFileName(program)), e);
        }
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>A path as an ffmpeg input: the <c>file:</c> protocol on the full path (so no name reads as an option or a URL).</summary>
    public static string Input(string path) => "file:" + Path.GetFullPath(path);

    /// <summary>Stops <paramref name="process"/> if it still runs (with its children) and releases it.</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
        process.Dispose();
    }
}
