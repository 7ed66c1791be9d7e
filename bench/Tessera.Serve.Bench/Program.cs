using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Server;
using TorchSharp;

namespace Tessera.Serve.Bench;

/// <summary>
/// Measurements of <c>tessera serve</c>:
/// <c>latency [threads] [clicks]</c>: click-to-mask latency in headless chromium with a random-weight ViT-B, against the
/// PyTorch 1.13 decoder of bench/scripts/sam_speed_torch.py at the same thread count (run by this program afterwards);
/// <c>load [clients] [predictions] [uploads]</c>: loopback load on a small SAM: concurrent predictions, uploads cycling the
/// cache, an over-full queue; errors, latency percentiles and resident memory of the first and last hundred requests.
/// </summary>
public static class Program
{
    private static readonly string[] ChromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    /// <summary>Entry point.</summary>
    public static async Task<int> Main(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "load";
        TorchRuntime.Configure(new RuntimeOptions()); // as the CLI: glibc heap settings, libtorch loaded
        Tessera.IO.ImageIO.Codec = new Tessera.Imaging.Skia.SkiaImageCodec(); // JPEG uploads
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        if (mode == "latency") await Latency(Arg(1, 2), Arg(2, 50));
        else if (mode == "load") await Load(Arg(1, 8), Arg(2, 200), Arg(3, 1000));
        else { Console.Error.WriteLine("usage: Tessera.Serve.Bench latency [threads] [clicks] | load [clients] [predictions] [uploads]"); return 2; }
        return 0;
    }

    private static double Percentile(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        double rank = p / 100 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    private static string Stats(IReadOnlyList<double> ms) =>
        string.Create(CultureInfo.InvariantCulture, $"median {Percentile(ms, 50):F1} ms, p95 {Percentile(ms, 95):F1} ms, p99 {Percentile(ms, 99):F1} ms, max {ms.Max():F1} ms (n = {ms.Count})");

    private static string Memory() => $"{RssMb()}/{GC.GetTotalMemory(false) >> 20}";

    private static long RssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        return -1;
    }

    // A smooth picture with a few discs: something with edges for the decoder, as a PNG.
    private static byte[] Picture(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[3 * h * w];
        var discs = Enumerable.Range(0, 6).Select(_ => (X: rng.Next(w), Y: rng.Next(h), R: rng.Next(h / 12, h / 4), C: new[] { rng.Next(256), rng.Next(256), rng.Next(256) })).ToArray();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int[] c = [x * 255 / w, y * 255 / h, 128];
                foreach (var d in discs) if ((x - d.X) * (x - d.X) + (y - d.Y) * (y - d.Y) < d.R * d.R) c = d.C;
                for (int k = 0; k < 3; k++) pixels[k * h * w + y * w + x] = (byte)c[k];
            }
        using var t = torch.tensor(pixels, [3, h, w]);
        return ImageIO.EncodePng(t);
    }

    private static async Task Latency(int threads, int clicks)
    {
        TorchRuntime.SetThreads(threads);
        string dir = Directory.CreateTempSubdirectory("tessera-serve-bench-").FullName;
        try
        {
            // Random-weight ViT-B: SamConfig.VitB is the official sam_vit_b architecture (89.7 M encoder parameters).
            string ckpt = Path.Combine(dir, "vit_b_random.safetensors");
            using (var model = new SamModel(SamConfig.VitB)) model.Save(ckpt);
            string image = Path.Combine(dir, "picture.png");
            File.WriteAllBytes(image, Picture(1024, 768, 1));
            var server = TesseraServer.Build(new ServerOptions { SamCheckpoint = ckpt, Port = 0, Log = _ => { } });
            await using var _ = server;
            await server.StartAsync();
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1440, Height = 900 } });
            await page.GotoAsync(server.Address);
            await page.WaitForFunctionAsync("document.getElementById('status').textContent.startsWith('ready')");
            var clock = Stopwatch.StartNew();
            await page.SetInputFilesAsync("#sam-file", image);
            await page.WaitForFunctionAsync("document.getElementById('status').textContent.includes('image ready')", null, new() { Timeout = 600_000 });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"upload + ViT-B image encoder (1024×768): {clock.Elapsed.TotalSeconds:F1} s"));
            var box = await page.Locator("#sam-image").BoundingBoxAsync() ?? throw new InvalidOperationException("no image");
            var rng = new Random(0);
            var pageMs = new List<double>();
            var decodeMs = new List<double>();
            for (int i = 0; i < clicks + 3; i++)
            {
                await page.Keyboard.PressAsync("Escape"); // one-point prompts, as the baseline's
                int before = await page.EvaluateAsync<int>("window.tessera.masks");
                await page.Mouse.ClickAsync((float)(box.X + rng.NextDouble() * box.Width), (float)(box.Y + rng.NextDouble() * box.Height));
                await page.WaitForFunctionAsync($"window.tessera.masks > {before}");
                double ms = await page.EvaluateAsync<double>("window.tessera.latencies[window.tessera.latencies.length - 1]");
                double decode = await page.EvaluateAsync<double>("window.tessera.response.decode_ms");
                if (i < 3) continue; // warm-up
                pageMs.Add(ms);
                decodeMs.Add(decode);
            }
            Console.WriteLine($"click → mask painted in the page ({threads} threads): {Stats(pageMs)}");
            Console.WriteLine($"  of which prompt encoder + mask decoder in the server: {Stats(decodeMs)}");
            await page.ScreenshotAsync(new() { Path = Path.Combine(Environment.CurrentDirectory, "serve-vit-b.png") });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        string script = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "scripts", "sam_speed_torch.py");
        var psi = new ProcessStartInfo("/usr/bin/python3", [Path.GetFullPath(script), threads.ToString(CultureInfo.InvariantCulture), "1"]) { RedirectStandardOutput = true };
        using var python = Process.Start(psi)!;
        string output = await python.StandardOutput.ReadToEndAsync();
        await python.WaitForExitAsync();
        Console.WriteLine("PyTorch 1.13 baseline (bench/scripts/sam_speed_torch.py, same architecture, random weights): " + output.ReplaceLineEndings("; ").TrimEnd(' ', ';'));
    }

    private static async Task Load(int clients, int predictions, int uploads)
    {
        // A small SAM (random weights): the load test is about the server (queues, cache, memory), not the encoder.
        var config = new SamConfig(ImageSize: 256, PatchSize: 16, EncoderDim: 64, EncoderDepth: 2, EncoderHeads: 2, GlobalAttentionBlocks: [1], WindowSize: 4);
        string dir = Directory.CreateTempSubdirectory("tessera-serve-load-").FullName;
        try
        {
            string ckpt = Path.Combine(dir, "small.safetensors");
            using (var model = new SamModel(config)) model.Save(ckpt);
            await Phase(ckpt, clients, predictions, uploads);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task Phase(string ckpt, int clients, int predictions, int uploads)
    {
        var server = TesseraServer.Build(new ServerOptions { SamCheckpoint = ckpt, Port = 0, CacheMb = 64, QueueLength = 16, Log = line => { if (line.StartsWith("error", StringComparison.Ordinal)) Console.Error.WriteLine(line); } });
        await using var _ = server;
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(15) };
        var picture = Picture(640, 480, 2);
        string id = (await (await http.PostAsync("/api/sam/images", new ByteArrayContent(picture))).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // 1. Concurrent predictions: clients × predictions one-point prompts.
        var latencies = new List<double>();
        var statuses = new Dictionary<HttpStatusCode, int>();
        var rss = new List<(int Done, string Mb)>();
        int done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var rng = new Random(c);
            for (int i = 0; i < predictions; i++)
            {
                var body = new StringContent($"{{\"id\":\"{id}\",\"points\":[[{rng.Next(640)},{rng.Next(480)}]]}}", Encoding.UTF8, "application/json");
                var t = Stopwatch.StartNew();
                using var r = await http.PostAsync("/api/sam/predict", body);
                await r.Content.ReadAsByteArrayAsync();
                lock (latencies)
                {
                    latencies.Add(t.Elapsed.TotalMilliseconds);
                    statuses[r.StatusCode] = statuses.GetValueOrDefault(r.StatusCode) + 1;
                    if (++done % 100 == 0) rss.Add((done, Memory()));
                }
            }
        }));
        Console.WriteLine($"predictions: {clients} clients × {predictions} in {clock.Elapsed.TotalSeconds:F1} s; statuses {string.Join(", ", statuses.Select(kv => $"{(int)kv.Key}: {kv.Value}"))}");
        Console.WriteLine($"  latency {Stats(latencies)}");
        Console.WriteLine($"  resident / managed memory after the first and last hundred: {rss[0].Mb} MB, {rss[^1].Mb} MB (every hundred: {string.Join(" ", rss.Select(r => r.Mb))})");

        // 2. Uploads of distinct images cycling through a 64 MiB cache, each followed by a prediction.
        latencies.Clear();
        statuses.Clear();
        rss.Clear();
        clock.Restart();
        string lastId = id;
        for (int i = 0; i < uploads; i++)
        {
            var t = Stopwatch.StartNew();
            using var u = await http.PostAsync("/api/sam/images", new ByteArrayContent(Picture(320, 240, 1000 + i)));
            string upId = lastId = (await u.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            using var p = await http.PostAsync("/api/sam/predict", new StringContent($"{{\"id\":\"{upId}\",\"points\":[[100,100]]}}", Encoding.UTF8, "application/json"));
            await p.Content.ReadAsByteArrayAsync();
            latencies.Add(t.Elapsed.TotalMilliseconds);
            statuses[u.StatusCode] = statuses.GetValueOrDefault(u.StatusCode) + 1;
            statuses[p.StatusCode] = statuses.GetValueOrDefault(p.StatusCode) + 1;
            if ((i + 1) % 100 == 0) rss.Add((i + 1, Memory()));
        }
        var models = await http.GetFromJsonAsync<JsonElement>("/api/models");
        var cache = models.GetProperty("sam").GetProperty("cache");
        Console.WriteLine($"uploads: {uploads} distinct 320×240 images + a prediction each in {clock.Elapsed.TotalSeconds:F1} s; statuses {string.Join(", ", statuses.Select(kv => $"{(int)kv.Key}: {kv.Value}"))}; cache {cache}");
        Console.WriteLine($"  upload + predict latency {Stats(latencies)}");
        Console.WriteLine($"  resident / managed memory after the first and last hundred: {rss[0].Mb} MB, {rss[^1].Mb} MB (every hundred: {string.Join(" ", rss.Select(r => r.Mb))})");
        // The first image was evicted long ago: its id answers 404 'evicted'.
        using var gone = await http.PostAsync("/api/sam/predict", new StringContent($"{{\"id\":\"{id}\",\"points\":[[1,1]]}}", Encoding.UTF8, "application/json"));
        Console.WriteLine($"  first image after the cycle: {(int)gone.StatusCode} {await gone.Content.ReadAsStringAsync()}");

        // 3. Over-full queue: 32 simultaneous automatic-mask requests against a queue of 16.
        statuses.Clear();
        string auto = $"{{\"id\":\"{lastId}\",\"points_per_side\":4}}";
        var all = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => http.PostAsync("/api/sam/auto", new StringContent(auto, Encoding.UTF8, "application/json"))));
        foreach (var r in all) statuses[r.StatusCode] = statuses.GetValueOrDefault(r.StatusCode) + 1;
        Console.WriteLine($"32 simultaneous auto requests (4 × 4 points), queue 16: statuses {string.Join(", ", statuses.Select(kv => $"{(int)kv.Key}: {kv.Value}"))}; Retry-After on 429: {all.FirstOrDefault(r => (int)r.StatusCode == 429)?.Headers.RetryAfter}");
    }
}
