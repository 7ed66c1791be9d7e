namespace Tessera.Bench;

/// <summary>Runs a baseline script of bench/scripts with Debian's /usr/bin/python3 (or TESSERA_BENCH_PYTHON) and reads its `key value` lines (a `pytorch-cpu:` line is printed as is).</summary>
internal static class PythonBaseline
{
    /// <summary>The script's numbers by key; empty when python3 or the script is missing.</summary>
    public static Dictionary<string, double> Run(string script, params string[] args)
    {
        var values = new Dictionary<string, double>();
        if (Command(script, args) is not { } psi) return values;
        using var p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, _) => { }; // drained, so that a chatty script never blocks on a full pipe
        p.BeginErrorReadLine();
        foreach (string line in p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // The script's own CPU-feature line (ATen capability, oneDNN, BLAS of the PyTorch it runs) goes to the output as is.
            if (line.StartsWith("pytorch-cpu:", StringComparison.Ordinal)) { Console.WriteLine(line); continue; }
            string[] parts = line.Split(' ');
            if (parts.Length == 2 && double.TryParse(parts[1], CultureInfo.InvariantCulture, out double v)) values[parts[0]] = v;
        }
        p.WaitForExit();
        return values;
    }

    /// <summary>How to start the script (standard output and error redirected), or null when the interpreter or the script is missing.</summary>
    public static ProcessStartInfo? Command(string script, params string[] args)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "scripts", script);
        // TESSERA_BENCH_PYTHON: another interpreter command (issue 28: current PyTorch, e.g.
        // "bench/scripts/chroot-python.sh /work/chroot-trixie" after bench/scripts/setup-torch26-chroot.sh).
        string[] command = (Environment.GetEnvironmentVariable("TESSERA_BENCH_PYTHON") is { Length: > 0 } custom ? custom : "/usr/bin/python3")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!File.Exists(command[0]) || !File.Exists(path)) return null;
        var psi = new ProcessStartInfo(command[0], [.. command[1..], Path.GetFullPath(path), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        // Debian's PyTorch 1.13 multiplies matrices with OpenBLAS, whose own thread pool ignores torch.set_num_threads: at
        // "one thread" its products ran on both cores (CPU time twice the wall time). Give the baseline this process's count.
        string threads = TorchSharp.torch.get_num_threads().ToString(CultureInfo.InvariantCulture);
        foreach (string name in new[] { "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS" }) psi.Environment[name] = threads;
        return psi;
    }
}
