using System.Text.Json;
using Microsoft.Playwright;
using Tessera.IO;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Server.Tests;

/// <summary>
/// The page in a real browser: Debian's chromium (apt-get install chromium; nothing is downloaded at run time)
/// driven by Playwright. Where chromium is absent the test fails, saying so: a skipped browser test would hide a broken page.
/// </summary>
[Collection("server")]
public sealed class BrowserTests
{
    /// <summary>The system browser.</summary>
    public const string Chromium = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    /// <summary>Screenshots and other artefacts of the browser tests.</summary>
    public static string Artifacts => Environment.GetEnvironmentVariable("TESSERA_TEST_ARTIFACTS") is { Length: > 0 } a ? a
        : Path.Combine(AppContext.BaseDirectory, "artifacts");

    /// <summary>Launches headless chromium from <see cref="Chromium"/>.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium); the browser tests need it and download nothing");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumArgs });
        return (playwright, browser);
    }

    private static async Task<bool[]> PageMask(IPage page) =>
        (await page.EvaluateAsync<string>("Array.from(window.tessera.mask).join('')")).Select(c => c == '1').ToArray();

    // The overlay canvas as painted: a pixel is masked where its alpha is not zero.
    private static async Task<bool[]> OverlayMask(IPage page) =>
        (await page.EvaluateAsync<string>("(() => { const c = document.getElementById('sam-overlay'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = ''; for (let i = 3; i < d.length; i += 4) s += d[i] ? '1' : '0'; return s; })()"))
        .Select(c => c == '1').ToArray();

    [Fact]
    public async Task A_click_on_the_page_shows_SamPredictor_s_mask_and_sampling_builds_the_grid()
    {
        using var dir = new TempDir();
        var (ckpt, image) = TestModels.Sam(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt, DiffusionCheckpoint = TestModels.Diffusion(dir) });
        await using var _ = server;
        using var __ = client;
        var (playwright, browser) = await LaunchAsync();
        using var ___ = playwright;
        await using var ____ = browser;
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
        var consoleErrors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") consoleErrors.Add(m.Text); };
        await page.GotoAsync(server.Address);
        await page.WaitForFunctionAsync("document.getElementById('status').textContent.startsWith('ready')");

        await page.SetInputFilesAsync("#sam-file", image);
        await page.WaitForFunctionAsync("document.getElementById('status').textContent.includes('image ready')");
        var box = await page.Locator("#sam-image").BoundingBoxAsync() ?? throw new InvalidOperationException("the image is not shown");
        (float X, float Y) At(double x, double y) => ((float)(box.X + x / 100 * box.Width), (float)(box.Y + y / 70 * box.Height));

        // A left click at pixel (62, 33): the mask the page received and painted is SamPredictor's for the point it sent.
        var (cx, cy) = At(62.5, 33.5);
        await page.Mouse.ClickAsync(cx, cy);
        await page.WaitForFunctionAsync("window.tessera.masks >= 1");
        var request = await page.EvaluateAsync<JsonElement>("window.tessera.request");
        var p = request.GetProperty("points")[0];
        var point = new SamPoint(p[0].GetDouble(), p[1].GetDouble(), p[2].GetInt32() == 1);
        Assert.InRange(point.X, 62, 63);
        Assert.InRange(point.Y, 33, 34);
        Assert.True(point.Positive);

        using var model = new SamModel(TestModels.TinySam);
        model.LoadWeights(Path.Combine(TestModels.SamFixtures, "sam_tiny.pth"));
        using var predictor = new SamPredictor(model);
        using var rgb = ImageIO.Load(image, ColorMode.Rgb);
        predictor.SetImage(rgb);
        using var first = predictor.Predict(new SamPrompt([point]), multimask: true);
        var want = first.Masks[first.Best].flatten().data<bool>().ToArray();
        Assert.Contains(true, want);
        Assert.Equal(want, await PageMask(page));
        Assert.Equal(want, await OverlayMask(page));
        Assert.Equal(3, await page.Locator("#sam-candidates li").CountAsync());

        // A right click adds a background point; the page sends the first answer's logits back, as the official demo does.
        (cx, cy) = At(20.5, 50.5);
        await page.Mouse.ClickAsync(cx, cy, new() { Button = MouseButton.Right });
        await page.WaitForFunctionAsync("window.tessera.masks >= 2");
        request = await page.EvaluateAsync<JsonElement>("window.tessera.request");
        var q = request.GetProperty("points")[1];
        Assert.Equal(0, q[2].GetInt32());
        Assert.True(request.TryGetProperty("mask_input", out var _));
        var background = new SamPoint(q[0].GetDouble(), q[1].GetDouble(), false);
        using var second = predictor.Predict(new SamPrompt([point, background], MaskInput: first.LowResLogits[first.Best..(first.Best + 1)]), multimask: false);
        Assert.Equal(second.Masks[0].flatten().data<bool>().ToArray(), await PageMask(page));

        Directory.CreateDirectory(Artifacts);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "serve-sam.png") });

        // Undo returns to the first mask.
        await page.ClickAsync("#sam-undo");
        await page.WaitForFunctionAsync("window.tessera.masks >= 3");
        Assert.Equal(want, await PageMask(page));

        // Sampling: the grid appears after the streamed steps.
        await page.ClickAsync("#tab-sample");
        await page.FillAsync("#sample-steps", "6");
        await page.FillAsync("#sample-count", "16");
        await page.SelectOptionAsync("#sample-sampler", "euler");
        await page.ClickAsync("#sample-go");
        await page.WaitForFunctionAsync("document.getElementById('sample-grid').naturalWidth > 0", null, new() { Timeout = 120_000 });
        Assert.Equal(6, await page.EvaluateAsync<double>("document.getElementById('sample-progress').value"));
        Assert.Equal(4 * 28 + 5 * 2, await page.EvaluateAsync<int>("document.getElementById('sample-grid').naturalWidth"));
        Assert.True(await page.EvaluateAsync<bool>("document.getElementById('sample-preview').naturalWidth > 0"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "serve-sampling.png") });
        Assert.Empty(consoleErrors);
    }
}
