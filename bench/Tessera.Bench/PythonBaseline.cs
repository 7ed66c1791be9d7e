using System.Diagnostics;
using System.Globalization;

namespace Tessera.Bench;

/// <summary>Runs a baseline script of bench/scripts with Debian's /usr/bin/python3 and reads its `key value` lines (a `pytorch-cpu:` line is printed as is).</summary>
internal static class PythonBaseline
{
    /// <summary>The script's numbers by key; empty when python3 or the script is missing.</summary>
    public static Dictionary<string, double> Run(string script, params string[] args)
    {
        var values = new Dictionary<string, double>();
        string path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "scripts", script);
        if (!File.Exists("/usr/bin/python3") || !File.Exists(path)) return values;
        var psi = new ProcessStartInfo("/usr/bin/python3", [path, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
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
}
