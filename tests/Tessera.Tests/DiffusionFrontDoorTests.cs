using System.Net.Http.Json;
using System.Text;
using Tessera.Server;

namespace Tessera.Tests;

/// <summary>The two front doors of sampling, <c>tessera diffusion sample</c> and the server's HTTP API, give the same grid for the same seeds.</summary>
[Collection("serial")]
public class DiffusionFrontDoorTests
{
    [Fact]
    public async Task The_server_s_sample_grid_is_the_command_s_png_byte_for_byte()
    {
        using var dir = new TempDir();
        torch.manual_seed(4);
        using (var model = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet(classes: 4))))
            model.Save(dir.File("model.safetensors"));
        // Seeds 5 … 10 with the labels seed mod 4; a stochastic sampler, so the per-seed noise must agree too.
        var (code, output) = CliTests.Run("diffusion", "sample", "--checkpoint", dir.File("model.safetensors"), "--sampler", "euler_ancestral", "--steps", "4",
            "--seed", "5", "-n", "6", "--batch", "4", "--guidance", "1.5", "--out", dir.File("grid.png"), "--out-dir", dir.File("each"), "-q");
        Assert.True(code == 0, output);
        Assert.Equal(Enumerable.Range(5, 6).Select(s => $"{s:D6}.png"), Directory.GetFiles(dir.File("each")).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        await using var server = TesseraServer.Build(new ServerOptions { DiffusionCheckpoint = dir.File("model.safetensors"), Host = "127.0.0.1", Port = 0, Log = _ => { } });
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(5) };
        var body = new StringContent("""{"sampler":"euler_ancestral","steps":4,"seed":5,"count":6,"guidance":1.5}""", Encoding.UTF8, "application/json");
        var answer = await (await client.PostAsync("/api/diffusion/sample", body)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(File.ReadAllBytes(dir.File("grid.png")), Convert.FromBase64String(answer.GetProperty("grid_png").GetString()!));
    }
}
