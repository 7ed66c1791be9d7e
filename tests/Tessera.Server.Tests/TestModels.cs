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

    /// <summary>The SAM 2.1 image fixture, tests/fixtures/sam2 (README there).</summary>
    public static string Sam2Fixtures => System.IO.Path.Combine(RepoRoot, "tests", "fixtures", "sam2");

    /// <summary>Its tiny SAM 2.1 in the official checkpoint layout (image size 1024).</summary>
    public static string Sam2Checkpoint => System.IO.Path.Combine(Sam2Fixtures, "sam2.1_tiny.pt");

    /// <summary>Its photo (160 × 125).</summary>
    public static string Sam2Photo => System.IO.Path.Combine(Sam2Fixtures, "photo.png");

    /// <summary>The SAM 2.1 video fixture, tests/fixtures/sam2video (README there).</summary>
    public static string Sam2VideoFixtures => System.IO.Path.Combine(RepoRoot, "tests", "fixtures", "sam2video");

    /// <summary>Its tiny SAM 2.1 with the video weights (image size 256).</summary>
    public static string Sam2VideoCheckpoint => System.IO.Path.Combine(Sam2VideoFixtures, "sam2.1_tiny_video.pt");

    /// <summary>Its clip: 10 JPEG frames of 160 × 90, in order.</summary>
    public static string[] Sam2VideoFrames => [.. Directory.GetFiles(System.IO.Path.Combine(Sam2VideoFixtures, "frames"), "*.jpg").Order(StringComparer.Ordinal)];

    /// <summary>
    /// The share of pixels of a label map (value = object id) that agree with the official masks of one frame: object ids
    /// <paramref name="ids"/> [N] and their masks as packed bits <paramref name="bits"/> [N, 1, H, W/8] (np.packbits along x).
    /// A pixel agrees when it is 0 where no official mask holds it, or an id whose mask holds it.
    /// </summary>
    public static double Agreement(LabelMap labels, torch.Tensor ids, torch.Tensor bits)
    {
        var objects = ids.data<long>().ToArray();
        var packed = bits.data<byte>().ToArray();
        int h = labels.Height, w = labels.Width, agree = 0;
        if (bits.shape[^2] != h || bits.shape[^1] * 8 != w) throw new InvalidOperationException($"labels {w}×{h} against masks [{string.Join(", ", bits.shape)}]");
        for (int p = 0; p < h * w; p++)
        {
            int y = p / w, x = p % w, label = labels.Labels[p];
            bool Holds(int o) => ((packed[(o * h + y) * (w / 8) + x / 8] >> (7 - x % 8)) & 1) == 1;
            var inside = Enumerable.Range(0, objects.Length).Where(Holds).ToList();
            if (inside.Count == 0 ? label == 0 : inside.Any(o => objects[o] == label)) agree++;
        }
        return (double)agree / (h * w);
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

    /// <summary>Runs the command line in this process; its exit code and output.</summary>
    public static (int Code, string Output) Cli(params string[] args)
    {
        var writer = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(writer),
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.No,
        });
        console.Profile.Width = 200;
        int code = Tessera.Cli.Program.Run(args, console);
        return (code, writer.ToString());
    }

    /// <summary>
    /// A small GCN-Net trained for two steps on Fashion-MNIST scenes by <c>tessera seg train</c> as it is now (the
    /// checkpoint the server must serve), in <paramref name="dir"/>.
    /// </summary>
    public static string Seg(TempDir dir)
    {
        string run = dir.File("seg-run");
        var (code, output) = Cli("seg", "train", "--model", "gcn", "--k", "3", "--width", "16", "--steps", "2", "--batch", "2", "--eval-every", "2",
            "--eval-scenes", "4", "--out", run, "--seed", "1", "-q");
        if (code != 0) throw new InvalidOperationException($"tessera seg train failed ({code}): {output}");
        return System.IO.Path.Combine(run, "checkpoint.safetensors");
    }

    /// <summary>
    /// A tiny ADE20K folder (random 48×40 images, labels 0–3 stored with 0 = other: reduce_zero_label) and an FCN trained
    /// on it for one step by <c>tessera seg train --dataset ade20k</c> with slide validation (32-pixel windows every 20):
    /// a checkpoint that records ImageNet normalisation, slide inference, ADE20K's class names and palette and its
    /// label convention. Returns the checkpoint and the dataset root.
    /// </summary>
    public static (string Checkpoint, string Root) SegDataset(TempDir dir)
    {
        string root = dir.File("ade");
        for (int split = 0; split < 2; split++)
        {
            string folder = split == 0 ? "training" : "validation";
            string images = System.IO.Path.Combine(root, "ADEChallengeData2016", "images", folder), labels = System.IO.Path.Combine(root, "ADEChallengeData2016", "annotations", folder);
            Directory.CreateDirectory(images);
            Directory.CreateDirectory(labels);
            for (int i = 0; i < 2; i++)
            {
                using var g = new torch.Generator((ulong)(10 * split + i + 1));
                using var rgb = torch.randint(0, 256, [3, 40, 48], dtype: torch.ScalarType.Byte, generator: g);
                ImageIO.SaveJpeg(rgb, System.IO.Path.Combine(images, $"ADE_{folder}_{i:D8}.jpg"));
                using var label = torch.randint(0, 4, [40, 48], dtype: torch.ScalarType.Byte, generator: g).contiguous();
                PalettePng.Write(System.IO.Path.Combine(labels, $"ADE_{folder}_{i:D8}.png"), label.bytes, 48, 40);
            }
        }
        string run = dir.File("ade-run");
        var (code, output) = Cli("seg", "train", "--dataset", "ade20k", "--data-root", root, "--model", "fcn", "--width", "16", "--steps", "1", "--batch", "2",
            "--crop", "32", "--scale", "64,64", "--mode", "slide", "--stride", "20", "--eval-every", "1", "--loader-threads", "1", "--out", run, "--seed", "2", "-q");
        if (code != 0) throw new InvalidOperationException($"tessera seg train --dataset ade20k failed ({code}): {output}");
        return (System.IO.Path.Combine(run, "checkpoint.safetensors"), root);
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
