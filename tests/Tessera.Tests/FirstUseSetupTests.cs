namespace Tessera.Tests;

/// <summary>Issue 28's first-use set-up: made once however many threads ask, never when opted out, never after an explicit one.</summary>
public sealed class FirstUseSetupTests
{
    [Fact]
    public void Runs_once_and_logs_once_under_concurrent_calls()
    {
        int runs = 0, logs = 0;
        var setup = new FirstUseSetup(() => Interlocked.Increment(ref runs), "set up") { Log = _ => Interlocked.Increment(ref logs) };
        int ran = 0;
        Parallel.For(0, 64, _ => { if (setup.Ensure()) Interlocked.Increment(ref ran); });
        Assert.False(setup.Ensure());
        Assert.Equal((1, 1, 1), (runs, logs, ran));
        Assert.True(setup.Done);
    }

    [Fact]
    public void Opting_out_before_first_use_leaves_the_process_alone()
    {
        int runs = 0, logs = 0;
        var setup = new FirstUseSetup(() => runs++, "set up") { Log = _ => logs++, Enabled = false };
        Assert.False(setup.Ensure());
        Assert.False(setup.Ensure());
        Assert.Equal((0, 0), (runs, logs));
        Assert.False(setup.Done);
    }

    [Fact]
    public void An_explicit_set_up_first_wins()
    {
        int runs = 0, logs = 0;
        var setup = new FirstUseSetup(() => runs++, "set up") { Log = _ => logs++ };
        setup.MarkDone();
        Assert.False(setup.Ensure());
        Assert.Equal((0, 0), (runs, logs));
    }

    [Fact]
    public void TorchRuntime_after_Configure_never_auto_configures()
    {
        TorchRuntime.Configure(new RuntimeOptions());
        Assert.True(TorchRuntime.IsConfigured);
        Assert.False(TorchRuntime.EnsureConfigured());
    }
}
