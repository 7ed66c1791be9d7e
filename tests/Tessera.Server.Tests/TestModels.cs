using System.Net.Http.Json;
using System.Text.Json;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Training;
using Tessera.IO;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Training;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Server.Tests;

/// <summary>Shared paths and the tiny models of the tests.</summary>
internal static class TestModels
{
    /// <summary>The repository root (where Tessera.sln is).</summary>
    public static string RepoRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !System.IO.File.Exists(System.IO.Path.Combine(dir, "Tessera.sln"))) dir = System.IO.Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("Tessera.sln not found above the test binaries");
        }
    }

    /// <summary>The golden SAM fixture of the repository, tests/fixtures/sam (tests/fixtures/README.md).</summary>
    public static string SamFixtures => System.IO.Path.Combine(RepoRoot, "tests", "fixtures", "sam");

    /// <summary>The fixture's tiny official SAM architecture (tests/Tessera.Tests/SamFixtureTests.cs).</summary>
    public static SamConfig TinySam => new(ImageSize: 64, PatchSize: 8, EncoderDim: 32, EncoderDepth: 4, EncoderHeads: 2,
        GlobalAttentionBlocks: [1, 3], WindowSize: 3, PromptDim: 32, MaskInChannels: 16, DecoderDepth: 2, DecoderHeads: 2,
        DecoderMlpDim: 64, IouHeadHiddenDim: 32);

    /// <summary>The fixture's tiny SAM (official weights, sam_tiny.pth) saved as safetensors in <paramref name="dir"/>; and its test image.</summary>
    public static (string Checkpoint, string Image) Sam(TempDir dir)
    {
        string pth = System.IO.Path.Combine(SamFixtures, "sam_tiny.pth");
        if (!System.IO.File.Exists(pth)) throw new FileNotFoundException($"the SAM fixture is missing: {pth} (tests/fixtures/sam of the repository)");
        using var model = new SamModel(TinySam);
        model.LoadWeights(pth);
        string ckpt = dir.File("sam_tiny.safetensors");
        model.Save(ckpt);
        var io = TensorIndexFile.Read(System.IO.Path.Combine(SamFixtures, "sam_tiny_io.bin"));
        string image = dir.File("img0.png");
        ImageIO.SavePng(io["img0/image"].permute(2, 0, 1), image);
        foreach (var t in io.Values) t.Dispose();
        return (ckpt, image);
    }

    /// <summary>A tiny class-conditional U-Net diffusion model (28×28 gray, random weights: the tests check plumbing, not quality), saved in <paramref name="dir"/>.</summary>
    public static string Diffusion(TempDir dir, int classes = 10)
    {
        var config = new DiffusionModelConfig(NetworkKind.UNet, new UNetConfig(1, 16, [1, 2], 1, [], 4, 16, 32, 0, 28, classes));
        using var model = new DiffusionModel(config);
        string path = dir.File("diffusion.safetensors");
        model.Save(path);
        return path;
    }

    /// <summary>A small GCN-Net of <c>tessera seg train</c>'s format (random weights), saved in <paramref name="dir"/>.</summary>
    public static string Seg(TempDir dir)
    {
        var config = new SegModelConfig { Model = Tessera.Segmentation.Training.SegModelKind.Gcn, K = 3, Classes = 11, BaseWidth = 16 };
        using var model = config.Build();
        string path = dir.File("seg.safetensors");
        TrainingCheckpoint.Save(path, model, null, 0, new Dictionary<string, string> { ["format"] = "tessera.segmentation", ["config"] = config.ToJson() });
        return path;
    }

    /// <summary>A PNG of <paramref name="w"/>×<paramref name="h"/> random RGB pixels (incompressible: its size is about 3wh bytes).</summary>
    public static byte[] RandomPng(int w, int h, int seed)
    {
        using var g = new torch.Generator((ulong)seed);
        using var t = torch.randint(0, 256, [3, h, w], dtype: torch.ScalarType.Byte, generator: g);
        return ImageIO.EncodePng(t);
    }

    /// <summary>Starts a server on a free loopback port; log lines go to <paramref name="log"/> when given.</summary>
    public static async Task<(TesseraServer Server, HttpClient Client)> StartAsync(ServerOptions options, List<string>? log = null)
    {
        var server = TesseraServer.Build(options with { Host = "127.0.0.1", Port = 0, Log = line => { if (log is not null) lock (log) log.Add(line); } });
        await server.StartAsync();
        return (server, new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(5) });
    }

    /// <summary>The JSON of a response.</summary>
    public static async Task<JsonElement> Json(HttpResponseMessage r) => (await r.Content.ReadFromJsonAsync<JsonElement>());
}
