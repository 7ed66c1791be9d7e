namespace Tessera.Tests;

/// <summary>The built <c>tessera</c> started by Open MPI's <c>mpirun</c> (several ranks, one thread each), or alone as the single-process reference.</summary>
internal static class MpiChild
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Tessera.Cli.dll");

    /// <summary>mpirun on PATH, or null.</summary>
    public static string? Mpirun { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>Skips without mpirun on a developer's machine; fails in CI, which installs Open MPI (.ci/run).</summary>
    public static void Require() =>
        Gate.Require(Mpirun is not null, "mpirun is not installed: data-parallel training tests need Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi3; .ci/run installs it)");

    /// <summary>Starts <paramref name="ranks"/> ranks of tessera with <paramref name="args"/> (and <c>--threads 1</c>); ranks = 0: tessera alone, no launcher.</summary>
    public static Process Start(int ranks, params string[] args)
    {
        ProcessStartInfo psi;
        if (ranks == 0) psi = new ProcessStartInfo("dotnet");
        else
        {
            psi = new ProcessStartInfo(Mpirun!);
            foreach (var a in new[] { "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none", "dotnet" }) psi.ArgumentList.Add(a);
        }
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.ArgumentList.Add(Cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--threads");
        psi.ArgumentList.Add("1");
        // Tests run as root in CI; mpirun refuses that unless told.
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("OMPI_COMM_WORLD", StringComparison.Ordinal) || k.StartsWith("PMI_", StringComparison.Ordinal) || k.StartsWith("SLURM_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        return Process.Start(psi)!;
    }

    /// <summary>Runs to the end (at most <paramref name="minutes"/>); exit code and stdout + stderr.</summary>
    public static (int Code, string Out) Run(int ranks, string[] args, double minutes = 3)
    {
        using var p = Start(ranks, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(minutes)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{(ranks == 0 ? "tessera" : "mpirun")} {string.Join(' ', args)} did not finish in {minutes} min");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Runs and asserts exit code 0.</summary>
    public static string Ok(int ranks, params string[] args)
    {
        var (code, output) = Run(ranks, args);
        Assert.True(code == 0, $"exit {code}:\n{output}");
        return output;
    }
}
