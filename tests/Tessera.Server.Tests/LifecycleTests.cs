using System.Diagnostics;
using System.Net;
using System.Text;

namespace Tessera.Server.Tests;

/// <summary>Start-up refusals and graceful shutdown.</summary>
[Collection("server")]
public sealed class LifecycleTests
{
    [Fact]
    public void Bad_options_and_checkpoints_are_refused_before_listening()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("junk.safetensors"), "not a checkpoint");
        foreach (var (options, mention) in new (ServerOptions, string)[]
        {
            (new ServerOptions(), "nothing to serve"),
            (new ServerOptions { SamCheckpoint = dir.File("missing.pth") }, "file not found"),
            (new ServerOptions { DiffusionCheckpoint = dir.File("junk.safetensors") }, "junk.safetensors"),
            (new ServerOptions { SegCheckpoint = dir.File("junk.safetensors"), Host = "example.org" }, "not an IP address"),
            (new ServerOptions { SegCheckpoint = dir.File("junk.safetensors"), Port = 70000 }, "port 70000"),
        })
        {
            var e = Assert.ThrowsAny<TesseraUserException>(() => TesseraServer.Build(options));
            Assert.Contains(mention, e.Message);
        }
    }

    [Fact]
    public async Task Stopping_cancels_queued_and_running_work_with_503_and_returns_promptly()
    {
        using var dir = new TempDir();
        var log = new List<string>();
        var (server, client) = await TestModels.StartAsync(new ServerOptions { DiffusionCheckpoint = TestModels.Diffusion(dir), QueueLength = 1 }, log);
        await using var _ = server;
        using var __ = client;
        StringContent Slow() => new("""{"sampler":"euler","steps":1000,"count":4}""", Encoding.UTF8, "application/json");
        var running = client.PostAsync("/api/diffusion/sample", Slow());
        var queued = client.PostAsync("/api/diffusion/sample", Slow());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Diffusion!.Queue.Pending < 2) { Assert.True(DateTime.UtcNow < deadline, "the requests never queued"); await Task.Delay(20); }
        var clock = Stopwatch.StartNew();
        await server.StopAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(9), $"stopping took {clock.Elapsed}: {string.Join(" | ", log)}");
        foreach (var r in await Task.WhenAll(running, queued))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            Assert.Contains("shutting down", await r.Content.ReadAsStringAsync());
        }
        Assert.Equal(0, server.Diffusion.Queue.Pending);
    }
}
