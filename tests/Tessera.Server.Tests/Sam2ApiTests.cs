using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tessera.IO;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;
using TorchSharp;

namespace Tessera.Server.Tests;

/// <summary>
/// <c>serve --sam</c> with SAM 2.1 checkpoints (tests/fixtures/sam2 and sam2video, READMEs there): image prompts answered as
/// <see cref="Sam2Predictor"/> answers them and so with the official masks recorded there; the automatic masks of SAM 2's
/// defaults; a video session tracked through the official session of the video fixture, its label maps against the
/// official masks (≥ 99.9 % of pixels, issue #27); the clip limits and errors.
/// </summary>
[Collection("server")]
public sealed class Sam2ApiTests
{
    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static bool[] Decode(JsonElement mask)
    {
        var rle = mask.GetProperty("rle");
        var size = rle.GetProperty("size");
        return MaskRle.FromCocoString(rle.GetProperty("counts").GetString()!, size[0].GetInt32(), size[1].GetInt32()).Decode();
    }

    [Fact]
    public async Task Sam2_image_masks_are_Sam2Predictor_s_and_the_official_ones_and_auto_uses_sam2_defaults()
    {
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = TestModels.Sam2Checkpoint });
        await using var _ = server;
        using var __ = client;
        var models = await TestModels.Json(await client.GetAsync("/api/models"));
        Assert.Equal("sam2", models.GetProperty("sam").GetProperty("family").GetString());
        Assert.Equal("hiera", models.GetProperty("sam").GetProperty("encoder").GetString());

        var up = await client.PostAsync("/api/sam/images", new ByteArrayContent(File.ReadAllBytes(TestModels.Sam2Photo)));
        Assert.Equal(HttpStatusCode.OK, up.StatusCode);
        string id = (await TestModels.Json(up)).GetProperty("id").GetString()!;

        using var model = Sam2Model.Load(TestModels.Sam2Checkpoint);
        using var predictor = new Sam2Predictor(model);
        using var rgb = ImageIO.Load(TestModels.Sam2Photo, ColorMode.Rgb);
        predictor.SetImage(rgb);
        var io = TensorIndexFile.Read(Path.Combine(TestModels.Sam2Fixtures, "sam2.1_tiny_io.bin"));
        try
        {
            // the fixture's multimask prompts (tests/Tessera.Tests/Sam2DecoderFixtureTests.cs): one click; a click and a box
            foreach (var (name, json, prompt) in new[]
            {
                ("point", """{"points":[[70,60,1]],"multimask":true}""", new SamPrompt([new SamPoint(70, 60)])),
                ("box_point", """{"points":[[90,50]],"box":[30,20,120,100],"multimask":true}""", new SamPrompt([new SamPoint(90, 50)], new SamBox(30, 20, 120, 100))),
            })
            {
                var r = await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}",""" + json[1..]));
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                var answer = await TestModels.Json(r);
                using var want = predictor.Predict(prompt, multimask: true);
                var masks = answer.GetProperty("masks");
                Assert.Equal(3, masks.GetArrayLength());
                Assert.Equal(want.Best, answer.GetProperty("best").GetInt32());
                var official = io[$"{name}/masks"].reshape(3, -1);
                for (int i = 0; i < 3; i++)
                {
                    var got = Decode(masks[i]);
                    Assert.Equal(want.Masks[i].flatten().data<bool>().ToArray(), got);
                    Assert.Equal(want.Scores[i], masks[i].GetProperty("score").GetDouble(), 1e-6);
                    var reference = official[i].data<bool>().ToArray();
                    double agree = Enumerable.Range(0, got.Length).Count(p => got[p] == reference[p]) / (double)got.Length;
                    Assert.True(agree >= 0.999, $"{name} mask {i}: {agree:P3} of pixels agree with the official mask");
                }
            }

            // automatic masks: SAM 2's defaults (predicted IoU 0.8), as the library's generator gives them
            var auto = await TestModels.Json(await client.PostAsync("/api/sam/auto", JsonBody($$"""{"id":"{{id}}","points_per_side":8}""")));
            var generator = new AutomaticMaskGenerator(predictor, AmgOptions.Sam2Defaults with { PointsPerSide = 8 });
            var expected = generator.Generate(rgb).OrderByDescending(m => m.Area).ToList();
            var annotations = auto.GetProperty("annotations");
            Assert.Equal(expected.Count, annotations.GetArrayLength());
            for (int i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i].Segmentation.ToCocoString(), annotations[i].GetProperty("segmentation").GetProperty("counts").GetString());
        }
        finally
        {
            foreach (var t in io.Values) t.Dispose();
        }
    }

    /// <summary>Posts the frames as multipart files named <paramref name="field"/>.</summary>
    internal static async Task<HttpResponseMessage> UploadFramesAsync(HttpClient client, IEnumerable<string> paths, string field = "frames")
    {
        using var form = new MultipartFormDataContent();
        foreach (var path in paths)
        {
            var file = new ByteArrayContent(File.ReadAllBytes(path));
            file.Headers.ContentType = new MediaTypeHeaderValue(path.EndsWith(".png", StringComparison.Ordinal) ? "image/png" : "image/jpeg");
            form.Add(file, field, Path.GetFileName(path));
        }
        return await client.PostAsync("/api/sam/videos", form);
    }

    /// <summary>
    /// The label maps of frames 5–9 of clip <paramref name="id"/> after the fixture's second session (object 1 clicked at
    /// (80, 45) on frame 5, forwards) against the official b_fwd masks: at least <paramref name="minAgreement"/> of the
    /// pixels equal, object 1 present, each frame's overlay served.
    /// </summary>
    private static async Task SameAsOfficialSecondSessionAsync(HttpClient client, string id, double minAgreement)
    {
        var io = TensorIndexFile.Read(Path.Combine(TestModels.Sam2VideoFixtures, "sam2video_io.bin"));
        try
        {
            for (int t = 5; t <= 9; t++)
            {
                var labels = LabelPng.Decode(await client.GetByteArrayAsync($"/api/sam/videos/{id}/labels/{t}"), "labels");
                double agreement = TestModels.Agreement(labels, io[$"b_fwd/{t}/obj_ids"], io[$"b_fwd/{t}/masks"]);
                Assert.True(agreement >= minAgreement, $"frame {t}: {agreement:P3} of pixels agree with the official masks");
                Assert.Contains(1, labels.Labels.Select(v => (int)v));
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/sam/videos/{id}/overlays/{t}")).StatusCode);
            }
        }
        finally
        {
            foreach (var t in io.Values) t.Dispose();
        }
    }

    /// <summary>Polls a clip's run until it ends; its last status.</summary>
    internal static async Task<JsonElement> WaitAsync(HttpClient client, string id)
    {
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromMinutes(5);)
        {
            var s = await TestModels.Json(await client.GetAsync($"/api/sam/videos/{id}/track"));
            if (s.GetProperty("state").GetString() is not ("queued" or "tracking")) return s;
            await Task.Delay(100);
        }
        throw new TimeoutException("the tracking run did not end in 5 minutes");
    }

    [Fact]
    public async Task A_clip_tracked_through_the_server_gives_the_official_masks_and_bad_clips_get_one_line_400s()
    {
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = TestModels.Sam2VideoCheckpoint, SamImageSize = 256, MaxVideoFrames = 10, MaxVideos = 2 });
        await using var _ = server;
        using var __ = client;
        var video = (await TestModels.Json(await client.GetAsync("/api/models"))).GetProperty("sam").GetProperty("video");
        Assert.Equal(10, video.GetProperty("max_frames").GetInt32());

        var up = await UploadFramesAsync(client, TestModels.Sam2VideoFrames);
        Assert.Equal(HttpStatusCode.OK, up.StatusCode);
        var clip = await TestModels.Json(up);
        string id = clip.GetProperty("id").GetString()!;
        Assert.Equal((10, 160, 90), (clip.GetProperty("frames").GetInt32(), clip.GetProperty("width").GetInt32(), clip.GetProperty("height").GetInt32()));
        // the frames come back as uploaded
        Assert.Equal(File.ReadAllBytes(TestModels.Sam2VideoFrames[3]), await client.GetByteArrayAsync($"/api/sam/videos/{id}/frames/3"));

        // the fixture's second session: object 1 clicked at (80, 45) on frame 5, tracked forwards (official b_fwd/5 … 9)
        var r = await client.PostAsync($"/api/sam/videos/{id}/track", JsonBody("""{"prompts":[{"frame":5,"object_id":1,"points":[[80,45,1]]}]}"""));
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        var status = await WaitAsync(client, id);
        Assert.Equal("done", status.GetProperty("state").GetString());
        Assert.Equal([5, 6, 7, 8, 9], status.GetProperty("frames").EnumerateArray().Select(f => f.GetInt32()));
        Assert.Equal(5, status.GetProperty("done").GetInt32());
        await SameAsOfficialSecondSessionAsync(client, id, 0.999);
        Assert.Equal("no_result", (await TestModels.Json(await client.GetAsync($"/api/sam/videos/{id}/labels/4"))).GetProperty("code").GetString());

        // bad prompts and clips: one-line 400s naming the field
        foreach (var (body, says) in new[]
        {
            ("""{"prompts":[{"frame":12,"points":[[80,45]]}]}""", "prompts: object 1 on frame 12"),
            ("""{"prompts":[{"frame":0,"points":[[200,45]]}]}""", "prompts: object 1 on frame 0: click (200, 45) is outside"),
            ("""{"prompts":[{"frame":0,"points":[[80]]}]}""", "prompts[0].points[0]:"),
            ("""{"prompts":[{"frame":0}]}""", "prompts[0]: no points and no box"),
            ("""{"prompts":[]}""", "prompts: required"),
            ("""{"prompts":[{"frame":0,"points":[[80,45]]}],"direction":"sideways"}""", "direction: 'sideways'"),
        })
        {
            var bad = await client.PostAsync($"/api/sam/videos/{id}/track", JsonBody(body));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.StartsWith(says, (await TestModels.Json(bad)).GetProperty("error").GetString());
        }
        var frames = TestModels.Sam2VideoFrames;
        foreach (var (paths, says) in new[]
        {
            (frames.Concat(frames[..1]).ToArray(), "frames: 11 files; a clip has at most 10 frames"),
            (Array.Empty<string>(), "frames:"),
            ([frames[0], TestModels.Sam2Photo], "frames[1] ('photo.png'): 160×125, frame 0 is 160×90"),
            ([frames[0], Path.Combine(TestModels.Sam2VideoFixtures, "README.md")], "frames[1] ('README.md'): not a JPEG or PNG image"),
        })
        {
            var bad = await UploadFramesAsync(client, paths);
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{says}: {bad.StatusCode} {await bad.Content.ReadAsStringAsync()}");
            Assert.StartsWith(says, (await TestModels.Json(bad)).GetProperty("error").GetString());
        }

        // two clips are kept: a third evicts the first, whose folder goes with it
        string folder = server.Video!.Sessions.Get(id).Folder;
        Assert.True(Directory.Exists(folder));
        for (int i = 0; i < 2; i++) Assert.Equal(HttpStatusCode.OK, (await UploadFramesAsync(client, frames[..2])).StatusCode);
        var evicted = await client.GetAsync($"/api/sam/videos/{id}/track");
        Assert.Equal(HttpStatusCode.NotFound, evicted.StatusCode);
        Assert.Equal("evicted", (await TestModels.Json(evicted)).GetProperty("code").GetString());
        Assert.False(Directory.Exists(folder));
    }

    /// <summary>
    /// A clip uploaded as one video file (the fixture's clip.mkv: FFV1 of Pillow's decoding of the ten frames) is decoded
    /// by ffmpeg as <c>sam track --video</c> decodes it and its pixels kept losslessly: the official masks (≥ 99.9 %, the
    /// fixture's bar) and exactly the label maps of the same session on the fixture's JPEG frames (whose decoding equals the
    /// clip's frames byte for byte, VideoFileTests), so the same masks as <c>sam track --video</c> gives
    /// (SamTrackCliTests); the frames sent to the page are JPEGs; a file ffmpeg cannot read and a body
    /// with both fields are one-line 400s.
    /// </summary>
    [Fact]
    public async Task A_video_file_upload_is_decoded_into_the_clip_and_tracks_the_official_object()
    {
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = TestModels.Sam2VideoCheckpoint, SamImageSize = 256, MaxVideoFrames = 10, MaxVideos = 2 });
        await using var _ = server;
        using var __ = client;
        string clipFile = Path.Combine(TestModels.Sam2VideoFixtures, "clip.mkv");
        var up = await UploadFramesAsync(client, [clipFile], "video");
        Assert.True(up.StatusCode == HttpStatusCode.OK, await up.Content.ReadAsStringAsync());
        var clip = await TestModels.Json(up);
        string id = clip.GetProperty("id").GetString()!;
        Assert.Equal((10, 160, 90), (clip.GetProperty("frames").GetInt32(), clip.GetProperty("width").GetInt32(), clip.GetProperty("height").GetInt32()));
        var r = await client.PostAsync($"/api/sam/videos/{id}/track", JsonBody("""{"prompts":[{"frame":5,"object_id":1,"points":[[80,45,1]]}]}"""));
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        Assert.Equal("done", (await WaitAsync(client, id)).GetProperty("state").GetString());
        await SameAsOfficialSecondSessionAsync(client, id, 0.999);
        var jpegClip = await TestModels.Json(await UploadFramesAsync(client, TestModels.Sam2VideoFrames));
        string jpegId = jpegClip.GetProperty("id").GetString()!;
        r = await client.PostAsync($"/api/sam/videos/{jpegId}/track", JsonBody("""{"prompts":[{"frame":5,"object_id":1,"points":[[80,45,1]]}]}"""));
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        Assert.Equal("done", (await WaitAsync(client, jpegId)).GetProperty("state").GetString());
        for (int t = 5; t <= 9; t++)
        {
            var fromVideo = LabelPng.Decode(await client.GetByteArrayAsync($"/api/sam/videos/{id}/labels/{t}"), "labels").Labels;
            Assert.Equal(LabelPng.Decode(await client.GetByteArrayAsync($"/api/sam/videos/{jpegId}/labels/{t}"), "labels").Labels, fromVideo);
        }
        // the page's frame: a JPEG of the decoded frame
        var shown = await client.GetAsync($"/api/sam/videos/{id}/frames/3");
        Assert.Equal("image/jpeg", shown.Content.Headers.ContentType?.MediaType);
        Assert.Equal((160, 90), ImageIO.ReadSize(new MemoryStream(await shown.Content.ReadAsByteArrayAsync()), "frame 3"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/sam/videos/{id}/frames/10")).StatusCode);
        var notVideo = await UploadFramesAsync(client, [Path.Combine(TestModels.Sam2VideoFixtures, "README.md")], "video");
        Assert.Equal(HttpStatusCode.BadRequest, notVideo.StatusCode);
        Assert.StartsWith("video ('README.md'):", (await TestModels.Json(notVideo)).GetProperty("error").GetString());
        using var both = new MultipartFormDataContent
        {
            { new ByteArrayContent(File.ReadAllBytes(clipFile)), "video", "clip.mkv" },
            { new ByteArrayContent(File.ReadAllBytes(TestModels.Sam2VideoFrames[0])), "frames", "00000.jpg" },
        };
        var bad = await client.PostAsync("/api/sam/videos", both);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.StartsWith("video: send one video file", (await TestModels.Json(bad)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_sam_checkpoint_has_no_video_and_says_so()
    {
        using var dir = new TempDir();
        var (ckpt, _) = TestModels.Sam(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt });
        await using var _ = server;
        using var __ = client;
        var sam = (await TestModels.Json(await client.GetAsync("/api/models"))).GetProperty("sam");
        Assert.Equal("sam", sam.GetProperty("family").GetString());
        Assert.False(sam.TryGetProperty("video", out var _));
        var r = await UploadFramesAsync(client, TestModels.Sam2VideoFrames[..1]);
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Contains("SAM 2", (await TestModels.Json(r)).GetProperty("error").GetString());
    }
}
