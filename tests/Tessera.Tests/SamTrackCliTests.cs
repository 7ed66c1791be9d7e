using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// <c>tessera sam track</c> on tests/fixtures/sam2video (README there): the prompts of the official SAM2VideoPredictor
/// session recorded in the fixture, given on the command line, and the label PNGs written against the official masks
/// of the same frames (≥ 99.9 % of pixels, issue #27); the summary's object scores against the official ones (1e-3).
/// </summary>
public sealed class SamTrackCliTests
{
    private static string Frames => Path.Combine(Sam2MemoryFixtureTests.Dir, "frames");

    private static string[] Track(TempDir dir, params string[] args) => TrackFrom(dir, "--frames", Frames, args);

    private static string[] TrackFrom(TempDir dir, string flag, string source, string[] args, string output = "out") =>
        ["sam", "track", "--checkpoint", Sam2MemoryFixtureTests.TinyCheckpoint, flag, source, "--image-size", "256", "--output", dir.File(output), "-q", .. args];

    // the fixture's session: object 1 clicked on frame 0, object 2 clicked (+ a negative click) on frame 0 and boxed on
    // frame 6, a mask for object 1 on frame 8; forwards from frame 0, then backwards from frame 8
    private static string[] Session(TempDir dir)
    {
        var mask = Sam2MemoryFixtureTests.Recorded.Ref("mask_prompt"); // the fixture's tensor: not ours to dispose
        PalettePng.Write(dir.File("mask8.png"), mask.contiguous().bytes, 160, 90);
        return ["--point", "60,40@0", "--point", "120,60@0:2", "--point", "100,30,0@0:2", "--box", "90,20,150,80@6:2", "--mask", dir.File("mask8.png") + "@8:1", "--both"];
    }

    private static void CheckSession(TempDir dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "summary.json")));
        var summary = doc.RootElement;
        Assert.Equal([1, 2], summary.GetProperty("objects").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(10, summary.GetProperty("frames_tracked").GetInt32());
        Assert.Equal(19, summary.GetProperty("steps").GetInt32());
        for (int t = 0; t <= 8; t++) CheckFrame(dir, summary, t, $"bwd/{t}");
        CheckFrame(dir, summary, 9, "fwd/9");
    }

    // The label map's agreement with the official masks of `key` (packed bits [N, 1, H, W/8]): a pixel agrees when its label
    // is 0 where no official mask holds it, or one of the ids whose official mask holds it.
    private static double Agreement(string labelPng, string key)
    {
        var map = LabelPng.Read(labelPng);
        var ids = Sam2MemoryFixtureTests.Recorded.Ref(key + "/obj_ids").data<long>().ToArray();
        var bits = Sam2MemoryFixtureTests.Recorded.Ref(key + "/masks").data<byte>().ToArray();
        int h = map.Height, w = map.Width;
        Assert.Equal((90, 160), (h, w));
        long agree = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var inside = Enumerable.Range(0, ids.Length).Where(o => ((bits[(o * h + y) * (w / 8) + x / 8] >> (7 - x % 8)) & 1) == 1).Select(o => (int)ids[o]).ToList();
                int label = map.Labels[y * w + x];
                if (inside.Count == 0 ? label == 0 : inside.Contains(label)) agree++;
            }
        return (double)agree / (h * w);
    }

    private static void CheckFrame(TempDir dir, JsonElement summary, int frame, string key)
    {
        string name = $"{frame:D5}";
        double agreement = Agreement(Path.Combine(dir.File("out"), "labels", name + ".png"), key);
        Assert.True(agreement >= 0.999, $"frame {frame} vs {key}: {agreement:P3} of pixels agree");
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "overlays", name + ".png")), $"overlay of frame {frame}");
        var entry = summary.GetProperty("frames").EnumerateArray().Single(f => f.GetProperty("frame").GetInt32() == frame).GetProperty("objects");
        var ids = Sam2MemoryFixtureTests.Recorded.Ref(key + "/obj_ids").data<long>().ToArray();
        var scores = Sam2MemoryFixtureTests.Recorded.Ref(key + "/scores").data<float>().ToArray();
        var labels = LabelPng.Read(Path.Combine(dir.File("out"), "labels", name + ".png")).Labels;
        for (int o = 0; o < ids.Length; o++)
        {
            var obj = entry.GetProperty(ids[o].ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(Math.Abs(obj.GetProperty("score").GetDouble() - scores[o]) <= 1e-3, $"frame {frame} object {ids[o]}: score {obj.GetProperty("score")} vs {scores[o]}");
            Assert.Equal(labels.Count(v => v == ids[o]), obj.GetProperty("area").GetInt64());
        }
    }

    [Fact]
    public void Track_both_ways_writes_the_official_masks_of_two_objects()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run(Track(dir, Session(dir)));
        Assert.True(code == 0, output);
        CheckSession(dir);
        // the contact sheet: the 10 overlays, 4 columns of 160 × 90 tiles with 2 px padding
        var (w, h) = ImageIO.ReadSize(Path.Combine(dir.File("out"), "contact-sheet.png"));
        Assert.Equal((4 * 162 + 2, 3 * 92 + 2), (w, h));
        // the animated preview: the 10 overlays in order, exactly, at the default 10 frames/s of a frame folder, looping
        var (plays, frames) = ApngCheck.Read(Path.Combine(dir.File("out"), "preview.png"));
        Assert.Equal(0, plays);
        Assert.Equal(10, frames.Count);
        for (int t = 0; t < 10; t++)
        {
            var f = frames[t];
            Assert.Equal((160, 90, 0, 0), (f.Width, f.Height, f.X, f.Y));
            Assert.Equal(0.1, (double)f.DelayNumerator / f.DelayDenominator, 9);
            using var overlay = ImageIO.Load(Path.Combine(dir.File("out"), "overlays", $"{t:D5}.png"), ColorMode.Rgb);
            Assert.Equal(overlay.permute(1, 2, 0).contiguous().bytes.ToArray(), f.Rgb);
        }
    }

    [Fact]
    public void The_gif_preview_has_the_animated_png_frames_through_a_palette()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run(Track(dir, "--point", "60,40@0", "--point", "120,60@0:2"));
        Assert.True(code == 0, output);
        Assert.Contains("preview.gif", output);
        string folder = dir.File("out");
        var (_, apng) = ApngCheck.Read(Path.Combine(folder, "preview.png"));
        // decoded by ffmpeg's GIF decoder: the APNG's 10 frames, 160 × 90, each shown 0.1 s, looping for ever
        var gif = GifCheck.Read(Path.Combine(folder, "preview.gif"));
        Assert.Equal((160, 90, 0), (gif.Width, gif.Height, gif.Loop));
        Assert.Equal(10, gif.Rgb.Length);
        Assert.Equal(Enumerable.Repeat(0.1, 10), gif.Seconds);
        // A 256-colour palette with error diffusion moves samples a little: measured on this clip, the mean absolute
        // difference from the APNG frame (lossless, = the overlay) is 1.7–2.3 levels per sample, while two different
        // frames of the clip differ by 7.5 levels or more (a GIF frame from its neighbouring overlays by 8.0 or more).
        // A bound of 4 levels takes palette noise and catches a frame out of order or from another run.
        for (int t = 0; t < 10; t++)
        {
            double mad = GifCheck.MeanAbsoluteDifference(gif.Rgb[t], apng[t].Rgb);
            Assert.True(mad <= 4, $"GIF frame {t}: mean absolute difference {mad:0.00} levels from the APNG frame");
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        var preview = doc.RootElement.GetProperty("preview");
        Assert.Equal(("preview.png", "preview.gif"), (preview.GetProperty("apng").GetString(), preview.GetProperty("gif").GetString()));
        Assert.False(preview.TryGetProperty("gif_skipped", out _));
    }

    [Theory]
    [InlineData(false, "ffmpeg not found on PATH")]
    [InlineData(true, "Unknown encoder gif")]
    public void Without_a_working_ffmpeg_the_gif_is_skipped_and_the_summary_says_so(bool failing, string says)
    {
        using var dir = new TempDir();
        using var bin = new TempDir();
        if (failing) GifWriterTests.FailingFfmpeg(bin.Path);
        var frames = Sam2VideoFrames.Open(Frames);
        var folder = new Sam2TrackFolder(dir.File("out"), frames) { FfmpegSearchPath = bin.Path };
        for (int t = 0; t < 3; t++)
        {
            // object 1: the left half of the frame
            using var scope = torch.NewDisposeScope();
            var logits = torch.full([1, 1, 90, 160], -1f);
            logits[.., .., .., ..80] = torch.tensor(1f);
            folder.Write(new Sam2VideoFrameResult(t, [1], logits, [2f]));
        }
        var summary = folder.Finish(new Sam2TrackSummary(folder.Frames, [1], 3, 1.0), Sam2TrackDirection.Forward);
        Assert.Contains(says, summary.PreviewGifSkipped);
        Assert.False(File.Exists(folder.PreviewGifFile));
        Assert.Empty(Directory.GetFiles(dir.File("out"), "*.tmp"));
        Assert.True(File.Exists(folder.ContactSheetFile));
        Assert.Equal(3, ApngCheck.Read(folder.PreviewFile).Frames.Count);
        using var doc = JsonDocument.Parse(File.ReadAllText(folder.SummaryFile));
        var preview = doc.RootElement.GetProperty("preview");
        Assert.Equal(JsonValueKind.Null, preview.GetProperty("gif").ValueKind);
        Assert.Equal(summary.PreviewGifSkipped, preview.GetProperty("gif_skipped").GetString());
    }

    [Fact]
    public void The_library_call_without_progress_counts_its_steps()
    {
        // VideoTracking.Run as the bench calls it (no progress, no cancellation): forwards from frame 0 over the 10
        // frames, both objects; the steps must be counted however the progress is (a null progress once left them 0)
        using var dir = new TempDir();
        using var predictor = Sam2VideoPredictor.Load(Sam2MemoryFixtureTests.TinyCheckpoint, imageSize: 256);
        using var state = predictor.InitState(Frames);
        var options = new Sam2TrackOptions();
        var folder = new Sam2TrackFolder(dir.File("out"), state.Frames, options);
        var summary = VideoTracking.Run(predictor, state, [new Sam2TrackPrompt(0, 1) { Points = [(60, 40, 1)] }, new Sam2TrackPrompt(0, 2) { Points = [(120, 60, 1)] }], options, folder);
        Assert.Equal(10, summary.Steps);
        Assert.Equal(VideoTracking.Steps([new Sam2TrackPrompt(0, 1) { Points = [(60, 40, 1)] }], 10, Sam2TrackDirection.Forward), summary.Steps);
        Assert.Equal(Enumerable.Range(0, 10), summary.Frames);
        Assert.True(summary.SecondsPerFrame > 0 && summary.SecondsPerFrame == summary.Seconds / 10, $"{summary.SecondsPerFrame} s per frame");
        using var doc = JsonDocument.Parse(File.ReadAllText(folder.SummaryFile));
        Assert.Equal(10, doc.RootElement.GetProperty("steps").GetInt32());
    }

    [Fact]
    public void Track_a_video_file_writes_the_labels_of_its_frames()
    {
        using var dir = new TempDir();
        var session = Session(dir);
        var (code, output) = CliTests.Run(TrackFrom(dir, "--video", VideoFileTests.Clip, session));
        Assert.True(code == 0, output);
        CheckSession(dir);
        // the same label PNGs as the frame folder gives
        (code, output) = CliTests.Run(TrackFrom(dir, "--frames", Frames, session, output: "from-frames"));
        Assert.True(code == 0, output);
        for (int t = 0; t < 10; t++)
            Assert.Equal(LabelPng.Read(Path.Combine(dir.File("from-frames"), "labels", $"{t:D5}.png")).Labels, LabelPng.Read(Path.Combine(dir.File("out"), "labels", $"{t:D5}.png")).Labels);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "summary.json")));
        Assert.Equal(10.0, doc.RootElement.GetProperty("video").GetProperty("fps").GetDouble());
        Assert.Equal(10, ApngCheck.Read(Path.Combine(dir.File("out"), "preview.png")).Frames.Count);
    }

    [Theory]
    [InlineData("one of them", "--frames", "BOTH")]
    [InlineData("one of them", "--video", "NEITHER")]
    [InlineData("--video: video file '/nonexistent/clip.mp4' does not exist", "--video", "/nonexistent/clip.mp4")]
    [InlineData("not a video file ffmpeg can read", "--video", "README")]
    public void A_bad_video_exits_2_with_one_line(string says, string flag, string value)
    {
        using var dir = new TempDir();
        string[] source = value switch
        {
            "BOTH" => ["--frames", Frames, "--video", VideoFileTests.Clip],
            "NEITHER" => [],
            "README" => [flag, Path.Combine(Sam2MemoryFixtureTests.Dir, "README.md")],
            _ => [flag, value],
        };
        var (code, output) = CliTests.Run(["sam", "track", "--checkpoint", Sam2MemoryFixtureTests.TinyCheckpoint, .. source, "--point", "60,40@0", "--output", dir.File("out"), "-q"]);
        Assert.Equal(2, code);
        Assert.Contains(says, output);
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public void Track_forwards_writes_the_tracked_frames_only()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run(Track(dir, "--point", "80,45@5"));
        Assert.True(code == 0, output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "summary.json")));
        Assert.Equal([5, 6, 7, 8, 9], doc.RootElement.GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("frame").GetInt32()));
        for (int t = 5; t <= 9; t++) CheckFrame(dir, doc.RootElement, t, $"b_fwd/{t}");
        Assert.False(File.Exists(Path.Combine(dir.File("out"), "labels", "00004.png")));
        Assert.Equal(5, ApngCheck.Read(Path.Combine(dir.File("out"), "preview.png")).Frames.Count);
    }

    [Theory]
    [InlineData("frame", "--point", "60,40@12")]
    [InlineData("outside", "--point", "200,40@0")]
    [InlineData("expected", "--point", "60,40")]
    [InlineData("does not exist", "--frames", "/nonexistent/frames")]
    public void Bad_input_exits_2_with_one_line(string says, string flag, string value)
    {
        using var dir = new TempDir();
        string[] args = flag == "--frames"
            ? ["sam", "track", "--checkpoint", Sam2MemoryFixtureTests.TinyCheckpoint, "--frames", value, "--point", "60,40@0", "--output", dir.File("out"), "-q"]
            : Track(dir, flag, value);
        var (code, output) = CliTests.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(says, output);
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public void A_sam_checkpoint_is_refused_in_one_line()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("sam", "track", "--checkpoint", MobileSamFixtureTests.TinyCheckpoint, "--frames", Frames, "--point", "60,40@0", "--output", dir.File("out"), "-q");
        Assert.Equal(2, code);
        Assert.Contains("SAM 2", output);
        Assert.Single(output.Trim().Split('\n'));
    }
}
