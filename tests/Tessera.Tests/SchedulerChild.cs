namespace Tessera.Tests;

/// <summary>The built <c>tessera</c> as a child process with the scheduler variables a shard would see (and no others).</summary>
internal static class SchedulerChild
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Tessera.Cli.dll");

    public static Process Start(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var name in new[] { "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX" }) psi.Environment.Remove(name);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    public static (int Code, string Out) Run(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        using var p = Start(env, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "child did not finish");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
