using System.Text.Json;
using Tessera.IO;
using Tessera.Segmentation.Sam2.Video;
using Xunit.Abstractions;

namespace Tessera.Server.Tests;

/// <summary>
/// The Video tab in Debian's chromium (as <see cref="BrowserTests"/>): the fixture clip of tests/fixtures/sam2video uploaded,
/// a click on frame 0, Track, Play; the masks the page paints on the last frame, read back from its canvas, are the label
/// map that the library's tracking loop (<see cref="VideoTracking.Run"/> with <see cref="Sam2TrackFolder"/>, what
/// <c>tessera sam track</c> runs) writes for the click the page sent.
/// </summary>
[Collection("server")]
public sealed class VideoBrowserTests(ITestOutputHelper log)
{
    // The overlay canvas as painted: each pixel's object id, from its colour where it is opaque (0 where clear).
    private static async Task<byte[]> OverlayLabels(Microsoft.Playwright.IPage page, int maxId)
    {
        var colours = Enumerable.Range(1, maxId).ToDictionary(id => Sam2TrackFolder.Colour(id), id => (byte)id);
        var rgba = (await page.EvaluateAsync<string>("(() => { const c = document.getElementById('video-overlay'); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(','); })()"))
            .Split(',').Select(byte.Parse).ToArray();
        var labels = new byte[rgba.Length / 4];
        for (int i = 0; i < labels.Length; i++)
        {
            if (rgba[4 * i + 3] == 0) continue;
            var c = (rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
            labels[i] = colours.TryGetValue(c, out var id) ? id : byte.MaxValue;
        }
        return labels;
    }

    [Fact]
    public async Task A_click_on_frame_0_is_tracked_and_played_back_as_the_library_tracks_it()
    {
        using var dir = new TempDir();
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = TestModels.Sam2VideoCheckpoint, SamImageSize = 256 });
        await using var _ = server;
        using var __ = client;
        var (playwright, browser) = await BrowserTests.LaunchAsync();
        using var ___ = playwright;
        await using var ____ = browser;
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 720 } });
        var consoleErrors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") consoleErrors.Add(m.Text); };
        await page.GotoAsync(server.Address);
        await page.WaitForFunctionAsync("document.getElementById('status').textContent.startsWith('ready')");
        Assert.True(await page.IsVisibleAsync("#tab-video"), "the Video tab is shown for a SAM 2 model with video weights");
        await page.ClickAsync("#tab-video");

        await page.SetInputFilesAsync("#video-files", TestModels.Sam2VideoFrames);
        await page.WaitForFunctionAsync("document.getElementById('status').textContent.includes('ready: click')");
        var box = await page.Locator("#video-frame").BoundingBoxAsync() ?? throw new InvalidOperationException("the frame is not shown");
        // A left click at frame pixel (60.5, 40.5) of frame 0 for object 1.
        await page.Mouse.ClickAsync((float)(box.X + 60.5 / 160 * box.Width), (float)(box.Y + 40.5 / 90 * box.Height));
        Assert.Equal(1, await page.Locator("#video-prompts li").CountAsync());
        await page.ClickAsync("#video-track");
        await page.WaitForFunctionAsync("window.tesseraVideo.status && window.tesseraVideo.status.state === 'done'", null, new() { Timeout = 180_000 });
        var request = await page.EvaluateAsync<JsonElement>("window.tesseraVideo.request");
        var prompt = request.GetProperty("prompts")[0];
        Assert.Equal(0, prompt.GetProperty("frame").GetInt32());
        Assert.Equal(1, prompt.GetProperty("object_id").GetInt32());
        var p = prompt.GetProperty("points")[0];
        var (x, y) = (p[0].GetDouble(), p[1].GetDouble());
        Assert.InRange(x, 60, 61);
        Assert.InRange(y, 40, 41);

        // Play: frames 1 … 9 shown in order; the overlay ends on frame 9.
        int before = await page.EvaluateAsync<int>("window.tesseraVideo.shown.length");
        await page.ClickAsync("#video-play");
        await page.WaitForFunctionAsync("window.tesseraVideo.overlayFrame === 9 && document.getElementById('video-play').textContent === 'Play'", null, new() { Timeout = 60_000 });
        var shown = (await page.EvaluateAsync<int[]>("window.tesseraVideo.shown")).Skip(before).ToArray();
        Assert.Equal(Enumerable.Range(1, 9), shown);

        // The library's run of the same click, written as tessera sam track writes it.
        using (var predictor = Sam2VideoPredictor.Load(TestModels.Sam2VideoCheckpoint, imageSize: 256))
        using (var state = predictor.InitState(Path.GetDirectoryName(TestModels.Sam2VideoFrames[0])!))
        {
            var output = new Sam2TrackFolder(dir.File("track"), state.Frames);
            VideoTracking.Run(predictor, state, [new Sam2TrackPrompt(0, 1) { Points = [(x, y, 1)] }], new Sam2TrackOptions(), output);
            var want = LabelPng.Read(output.LabelFile(9));
            Assert.Contains((byte)1, want.Labels);
            Assert.Equal(want.Labels, await OverlayLabels(page, 1));
        }

        Directory.CreateDirectory(BrowserTests.Artifacts);
        string shot = Path.Combine(BrowserTests.Artifacts, "serve-video.png");
        await page.ScreenshotAsync(new() { Path = shot });
        log.WriteLine($"screenshot of the page tracking an object: {shot}");
        Console.WriteLine($"screenshot of the page tracking an object: {shot}");
        Assert.Empty(consoleErrors);
    }
}
