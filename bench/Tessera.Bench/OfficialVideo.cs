namespace Tessera.Bench;

/// <summary>
/// The official SAM2VideoPredictor kept open in a Python process (bench/scripts/sam2_video_torch.py serve): each
/// <see cref="SecondsPerFrame"/> asks it for one timed propagation, so its runs interleave with Tessera's.
/// </summary>
internal sealed class OfficialVideo : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _errors = [];

    private OfficialVideo(Process process) => _process = process;

    /// <summary>Starts the script on the checkpoint and frames; null when the interpreter is missing or not PyTorch 2.</summary>
    public static OfficialVideo? Start(string checkpoint, string frames, int threads)
    {
        if (Environment.GetEnvironmentVariable("TESSERA_BENCH_PYTHON") is not { Length: > 0 }) return null; // sam2 needs PyTorch 2
        string sources = Path.GetFullPath(Environment.GetEnvironmentVariable("SAM2_SRC") ?? Path.Combine("bench-cache", "sam2src"));
        var psi = PythonBaseline.Command("sam2_video_torch.py", "serve", sources, checkpoint, frames, threads.ToString(CultureInfo.InvariantCulture));
        if (psi is null) return null;
        psi.RedirectStandardInput = true;
        var video = new OfficialVideo(Process.Start(psi)!);
        video._process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (video._errors) video._errors.Add(line); };
        video._process.BeginErrorReadLine();
        video.Read("ready");
        return video;
    }

    /// <summary>One run with <paramref name="objects"/> clicked objects: the official propagation's seconds per frame.</summary>
    public double SecondsPerFrame(int objects)
    {
        _process.StandardInput.WriteLine(objects.ToString(CultureInfo.InvariantCulture));
        _process.StandardInput.Flush();
        string[] parts = Read("s_per_frame").Split(' ');
        return double.Parse(parts[1], CultureInfo.InvariantCulture);
    }

    // The next line starting with `prefix` (a `pytorch-cpu:` line on the way is printed).
    private string Read(string prefix)
    {
        while (_process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith("pytorch-cpu:", StringComparison.Ordinal)) Console.WriteLine(line);
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
        }
        _process.WaitForExit();
        lock (_errors) throw new InvalidOperationException($"sam2_video_torch.py ended (exit {_process.ExitCode}) before '{prefix}': {string.Join('\n', _errors.TakeLast(20))}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(30_000)) _process.Kill();
        }
        _process.Dispose();
    }
}
