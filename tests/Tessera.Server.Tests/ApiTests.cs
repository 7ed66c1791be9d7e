using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Tessera.Diffusion;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using TorchSharp;

namespace Tessera.Server.Tests;

/// <summary>The JSON API on a real Kestrel on a free loopback port, against the official SAM fixture and the library called directly.</summary>
[Collection("server")]
public sealed class ApiTests
{
    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<string> UploadAsync(HttpClient client, byte[] bytes)
    {
        var r = await client.PostAsync("/api/sam/images", new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return (await TestModels.Json(r)).GetProperty("id").GetString()!;
    }

    private static bool[] Decode(JsonElement mask)
    {
        var rle = mask.GetProperty("rle");
        var size = rle.GetProperty("size");
        return MaskRle.FromCocoString(rle.GetProperty("counts").GetString()!, size[0].GetInt32(), size[1].GetInt32()).Decode();
    }

    [Fact]
    public async Task Sam_masks_equal_the_official_predictor_and_refine_with_mask_input()
    {
        using var dir = new TempDir();
        var (ckpt, image) = TestModels.Sam(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt });
        await using var _ = server;
        using var __ = client;
        byte[] bytes = File.ReadAllBytes(image);
        string id = await UploadAsync(client, bytes);
        var again = await TestModels.Json(await client.PostAsync("/api/sam/images", new ByteArrayContent(bytes)));
        Assert.Equal(id, again.GetProperty("id").GetString());
        Assert.True(again.GetProperty("cached").GetBoolean());

        // Two clicks, three candidates: the best one is the official SamPredictor's (fixture), up to pixels whose logit is ~0.
        var io = TensorIndexFile.Read(Path.Combine(TestModels.SamFixtures, "sam_tiny_io.bin"));
        var r = await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[62,33,1],[18.5,50.25,0]],"multimask":true}"""));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var answer = await TestModels.Json(r);
        var masks = answer.GetProperty("masks");
        Assert.Equal(3, masks.GetArrayLength());
        var iou = io["img0/points2/multi/iou_predictions"][0].data<float>().ToArray();
        int best = Array.IndexOf(iou, iou.Max());
        Assert.Equal(best, answer.GetProperty("best").GetInt32());
        for (int i = 0; i < 3; i++) Assert.Equal(iou[i], masks[i].GetProperty("score").GetDouble(), 1e-4);
        var want = io["img0/points2/multi/masks"][0, best].flatten().data<bool>().ToArray();
        var logits = io["img0/points2/multi/masks_logits"][0, best].flatten().data<float>().ToArray();
        var got = Decode(masks[best]);
        Assert.Equal(want.Length, got.Length);
        Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(want[i] == got[i] || Math.Abs(logits[i]) < 1e-3, $"pixel {i}"));
        // The PNG carries the same mask as the RLE.
        var png = LabelPng.Decode(Convert.FromBase64String(masks[best].GetProperty("png").GetString()!), "mask").Labels;
        Assert.Equal(got, png.Select(v => v == 255).ToArray());

        // A box, single mask: the official answer.
        answer = await TestModels.Json(await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","box":[41,14,88,55]}""")));
        Assert.Equal(1, answer.GetProperty("masks").GetArrayLength());
        want = io["img0/box/single/masks"].flatten().data<bool>().ToArray();
        logits = io["img0/box/single/masks_logits"].flatten().data<float>().ToArray();
        got = Decode(answer.GetProperty("masks")[0]);
        Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(want[i] == got[i] || Math.Abs(logits[i]) < 1e-3, $"pixel {i}"));

        // Refinement: the logits handle of a first click fed back with a second click = SamPredictor with MaskInput.
        var first = await TestModels.Json(await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[30,20]]}""")));
        int b0 = first.GetProperty("best").GetInt32();
        string handle = first.GetProperty("masks")[b0].GetProperty("logits").GetString()!;
        var second = await TestModels.Json(await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[30,20,1],[60,50,0]],"mask_input":"{{handle}}"}""")));
        using var model = new SamModel(TestModels.TinySam);
        model.LoadWeights(Path.Combine(TestModels.SamFixtures, "sam_tiny.pth"));
        using var predictor = new SamPredictor(model);
        using var rgb = ImageIO.Load(image, ColorMode.Rgb);
        predictor.SetImage(rgb);
        using var p1 = predictor.Predict(new SamPrompt([new SamPoint(30, 20)]), multimask: true);
        Assert.Equal(p1.Masks[b0].flatten().data<bool>().ToArray(), Decode(first.GetProperty("masks")[b0]));
        using var p2 = predictor.Predict(new SamPrompt([new SamPoint(30, 20), new SamPoint(60, 50, false)], MaskInput: p1.LowResLogits[b0..(b0 + 1)]), multimask: false);
        Assert.Equal(p2.Masks[0].flatten().data<bool>().ToArray(), Decode(second.GetProperty("masks")[0]));
        foreach (var t in io.Values) t.Dispose();

        // Segment everything answers SA-1B annotations whose RLEs decode at the image size.
        var auto = await TestModels.Json(await client.PostAsync("/api/sam/auto", JsonBody($$"""{"id":"{{id}}","points_per_side":8,"pred_iou_thresh":0,"stability_score_thresh":0}""")));
        var annotations = auto.GetProperty("annotations").EnumerateArray().ToList();
        Assert.NotEmpty(annotations);
        foreach (var a in annotations)
        {
            var seg = a.GetProperty("segmentation");
            Assert.Equal([70, 100], seg.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()));
            Assert.Equal(a.GetProperty("area").GetInt64(), MaskRle.FromCocoString(seg.GetProperty("counts").GetString()!, 70, 100).Decode().LongCount(v => v));
        }
        // Its overlay is the one sam auto writes for these masks (the library's MaskOverlay, largest mask first).
        var autoMasks = annotations.Select(a => torch.tensor(MaskRle.FromCocoString(a.GetProperty("segmentation").GetProperty("counts").GetString()!, 70, 100).Decode(), [70, 100])).ToList();
        Assert.Equal(ImageIO.EncodePng(MaskOverlay.Masks(rgb, autoMasks)), Convert.FromBase64String(auto.GetProperty("overlay_png").GetString()!));
    }

    [Fact]
    public async Task Every_bad_request_is_a_one_line_json_error_and_is_logged()
    {
        using var dir = new TempDir();
        var (ckpt, image) = TestModels.Sam(dir);
        var log = new List<string>();
        var (server, client) = await TestModels.StartAsync(new ServerOptions
        {
            SamCheckpoint = ckpt,
            DiffusionCheckpoint = TestModels.Diffusion(dir),
            SegCheckpoint = TestModels.Seg(dir),
            MaxUploadMb = 1,
        }, log);
        await using var _ = server;
        using var __ = client;
        string id = await UploadAsync(client, File.ReadAllBytes(image));
        byte[] big = new byte[1024 * 1024 + 10];

        var cases = new (string Path, HttpContent Body, HttpStatusCode Status, string Mention)[]
        {
            ("/api/sam/images", new StringContent("hello"), HttpStatusCode.BadRequest, "not an image"),
            ("/api/sam/images", new ByteArrayContent([]), HttpStatusCode.BadRequest, "empty body"),
            ("/api/sam/images", new ByteArrayContent(big), HttpStatusCode.BadRequest, "larger than"),
            ("/api/sam/predict", JsonBody("{\"id\":"), HttpStatusCode.BadRequest, "malformed JSON"),
            ("/api/sam/predict", JsonBody("[1,2]"), HttpStatusCode.BadRequest, "malformed JSON"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","pointz":[[1,1]]}"""), HttpStatusCode.BadRequest, "pointz"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[500,1]]}"""), HttpStatusCode.BadRequest, "points: 500,1 is outside the 100×70 image"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[5,1,7]]}"""), HttpStatusCode.BadRequest, "points[0]: label must be 1 (object) or 0 (background), got 7"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[5]]}"""), HttpStatusCode.BadRequest, "points[0]"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","box":[9,9,1,1]}"""), HttpStatusCode.BadRequest, "box: 9,9,1,1: x1 < x0"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","box":[0,0,101,20]}"""), HttpStatusCode.BadRequest, "box: 0,0,101,20 is outside the 100×70 image"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","box":[0,0,1]}"""), HttpStatusCode.BadRequest, "box: [0, 0, 1]; expected [x0, y0, x1, y1]"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}"}"""), HttpStatusCode.BadRequest, "at least one point"),
            ("/api/sam/predict", JsonBody("""{"points":[[1,1]]}"""), HttpStatusCode.BadRequest, "id: required"),
            ("/api/sam/predict", JsonBody("""{"id":"feed","points":[[1,1]]}"""), HttpStatusCode.NotFound, "unknown"),
            ("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[1,1]],"mask_input":"nope"}"""), HttpStatusCode.NotFound, "mask_input"),
            ("/api/sam/auto", JsonBody($$"""{"id":"{{id}}","points_per_side":0}"""), HttpStatusCode.BadRequest, "points_per_side"),
            ("/api/diffusion/sample", JsonBody("""{"sampler":"magic"}"""), HttpStatusCode.BadRequest, "unknown 'magic'"),
            ("/api/diffusion/sample", JsonBody("""{"count":1000}"""), HttpStatusCode.BadRequest, "count"),
            ("/api/diffusion/sample", JsonBody("""{"class":99}"""), HttpStatusCode.BadRequest, "class"),
            ("/api/diffusion/sample", JsonBody("""{"steps":"many"}"""), HttpStatusCode.BadRequest, "malformed JSON"),
            ("/api/seg/predict", new StringContent("hello, not a picture"), HttpStatusCode.BadRequest, "not an image"),
            ("/api/sam/images", new StringContent("GIF89a nonsense"), HttpStatusCode.BadRequest, "megapixels"), // a header claiming 28192×28271
            ("/api/nothing-here", JsonBody("{}"), HttpStatusCode.NotFound, "no endpoint"),
        };
        foreach (var (path, body, status, mention) in cases)
        {
            var r = await client.PostAsync(path, body);
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == status, $"{path} {mention}: {r.StatusCode} {text}");
            Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
            using var doc = JsonDocument.Parse(text);
            string error = doc.RootElement.GetProperty("error").GetString()!;
            Assert.Contains(mention, error);
            Assert.DoesNotContain('\n', error);
            Assert.DoesNotMatch(@"\bat [A-Za-z_.]+\.[A-Za-z_<>]+\(|\.cs:line|Exception:", text); // no stack trace
        }
        // The server still answers, and every request was logged with method, path, status and time.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/health")).StatusCode);
        lock (log)
        {
            Assert.Contains(log, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^POST /api/sam/predict 400 \d+\.\d ms$"));
            Assert.Contains(log, l => l.StartsWith("POST /api/sam/images 400", StringComparison.Ordinal));
            Assert.Contains(log, l => l.StartsWith("GET /api/health 200", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Concurrent_clients_all_get_their_masks()
    {
        using var dir = new TempDir();
        var (ckpt, image) = TestModels.Sam(dir);
        var log = new List<string>();
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt }, log);
        await using var _ = server;
        using var __ = client;
        string id = await UploadAsync(client, File.ReadAllBytes(image));
        var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async c =>
        {
            var codes = new List<HttpStatusCode>();
            for (int i = 0; i < 40; i++)
            {
                using var r = await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{id}}","points":[[{{(c * 13 + i * 7) % 100}},{{(c * 5 + i * 3) % 70}}]]}"""));
                await r.Content.ReadAsByteArrayAsync();
                codes.Add(r.StatusCode);
            }
            return codes;
        }));
        lock (log) Assert.True(statuses.SelectMany(s => s).All(s => s == HttpStatusCode.OK), string.Join(" | ", log.Where(l => l.StartsWith("error", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task Evicted_images_answer_404_saying_so_and_can_be_uploaded_again()
    {
        using var dir = new TempDir();
        var (ckpt, _) = TestModels.Sam(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt, CacheMb = 1 });
        await using var __ = server;
        using var ___ = client;
        // Each 400×400 image holds 480,000 bytes of pixels besides its embedding: the third pushes the first out of 1 MiB.
        var images = Enumerable.Range(0, 3).Select(i => TestModels.RandomPng(400, 400, i)).ToArray();
        var ids = new List<string>();
        foreach (var bytes in images) ids.Add(await UploadAsync(client, bytes));
        var r = await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{ids[0]}}","points":[[10,10]]}"""));
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        var error = await TestModels.Json(r);
        Assert.Equal("evicted", error.GetProperty("code").GetString());
        Assert.Contains("evicted from the embedding cache", error.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{ids[2]}}","points":[[10,10]]}"""))).StatusCode);
        Assert.Equal(ids[0], await UploadAsync(client, images[0]));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/sam/predict", JsonBody($$"""{"id":"{{ids[0]}}","points":[[10,10]]}"""))).StatusCode);
        var models = await TestModels.Json(await client.GetAsync("/api/models"));
        var cache = models.GetProperty("sam").GetProperty("cache");
        Assert.True(cache.GetProperty("bytes").GetInt64() <= cache.GetProperty("budget_bytes").GetInt64());
        Assert.True(cache.GetProperty("evictions").GetInt64() >= 2);
    }

    [Fact]
    public async Task A_full_queue_answers_429_and_a_client_that_leaves_cancels_its_work()
    {
        using var dir = new TempDir();
        var (server, client) = await TestModels.StartAsync(new ServerOptions { DiffusionCheckpoint = TestModels.Diffusion(dir), QueueLength = 0 });
        await using var _ = server;
        using var __ = client;
        using var leave = new CancellationTokenSource();
        var slow = client.PostAsync("/api/diffusion/sample", JsonBody("""{"sampler":"heun","steps":500,"count":64}"""), leave.Token);
        async Task<int> Pending() => (await TestModels.Json(await client.GetAsync("/api/models"))).GetProperty("diffusion").GetProperty("queue").GetProperty("pending").GetInt32();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Pending() == 0) { Assert.True(DateTime.UtcNow < deadline, "the slow request never started"); await Task.Delay(20); }

        var busy = await client.PostAsync("/api/diffusion/sample", JsonBody("""{"steps":2,"count":1}"""));
        Assert.Equal((HttpStatusCode)429, busy.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), busy.Headers.RetryAfter?.Delta);
        Assert.Equal("busy", (await TestModels.Json(busy)).GetProperty("code").GetString());

        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        // 500 Heun steps on 64 images take far longer than this: the sampler stopped at its next step.
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Pending() != 0) { Assert.True(DateTime.UtcNow < deadline, "the abandoned request kept the model busy"); await Task.Delay(20); }
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/diffusion/sample", JsonBody("""{"steps":2,"count":1}"""))).StatusCode);
    }

    [Fact]
    public async Task Sampling_streams_the_library_s_step_reports_and_its_grid_is_the_library_s_samples()
    {
        using var dir = new TempDir();
        string ckpt = TestModels.Diffusion(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { DiffusionCheckpoint = ckpt });
        await using var _ = server;
        using var __ = client;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/diffusion/sample") { Content = JsonBody("""{"sampler":"euler","steps":5,"seed":7,"count":6,"class":3}""") };
        request.Headers.Accept.ParseAdd("text/event-stream");
        var r = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        var events = new List<(string Name, JsonElement Data)>();
        string? name = null;
        using (var reader = new StreamReader(await r.Content.ReadAsStreamAsync()))
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name!, JsonDocument.Parse(line[6..]).RootElement.Clone()));
            }
        var steps = events.Where(e => e.Name == "step").Select(e => e.Data).ToList();
        Assert.Equal(5, steps.Count);
        Assert.Equal(Enumerable.Range(0, 5), steps.Select(s => s.GetProperty("step").GetInt32()));
        using var model = DiffusionModel.Load(ckpt);
        var sigmas = Tessera.Diffusion.Grids.SigmaGrids.Karras(5, model.Config.SigmaRange.Min, model.Config.SigmaRange.Max);
        for (int i = 0; i < 5; i++) Assert.Equal(sigmas[i], steps[i].GetProperty("sigma").GetDouble(), 1e-9);
        Assert.Equal("result", events[^1].Name);

        // The grid and the previews: the library's one sampling call with seeds 7 … 12 and class 3 (what tessera diffusion
        // sample runs for --seed 7 -n 6 --class 3), and the denoised estimate it reports at each step as a grid.
        var previews = new List<byte[]>();
        var options = new DiffusionSamplingOptions { Sampler = "euler", Steps = 5, Classes = [3] };
        using var x = DiffusionSampling.Sample(model, DiffusionSampling.ConsecutiveSeeds(7, 6), options, torch.CPU, new InlineProgress<DiffusionSamplingStep>(s =>
        {
            if (s.BatchDone) return;
            using var preview = s.Preview();
            using var grid = ImageIO.MakeGrid(preview, DiffusionSampling.GridColumns(6));
            previews.Add(ImageIO.EncodePng(grid));
        }));
        Assert.Equal(previews, steps.Select(s => Convert.FromBase64String(s.GetProperty("preview_png").GetString()!)));
        using var want = ImageIO.MakeGrid(x, 3);
        byte[] expected = ImageIO.EncodePng(want);
        Assert.Equal(expected, Convert.FromBase64String(events[^1].Data.GetProperty("grid_png").GetString()!));
        // Without the stream: the same grid as JSON.
        var plain = await TestModels.Json(await client.PostAsync("/api/diffusion/sample", JsonBody("""{"sampler":"euler","steps":5,"seed":7,"count":6,"class":3}""")));
        Assert.Equal(expected, Convert.FromBase64String(plain.GetProperty("grid_png").GetString()!));
    }

    [Fact]
    public async Task Health_models_openapi_and_the_page_are_served_offline()
    {
        using var dir = new TempDir();
        var (ckpt, _) = TestModels.Sam(dir);
        var (server, client) = await TestModels.StartAsync(new ServerOptions { SamCheckpoint = ckpt });
        await using var _ = server;
        using var __ = client;
        Assert.Equal("ok", (await TestModels.Json(await client.GetAsync("/api/health"))).GetProperty("status").GetString());
        var models = await TestModels.Json(await client.GetAsync("/api/models"));
        Assert.Equal(32, models.GetProperty("sam").GetProperty("encoder_dim").GetInt32());
        Assert.Equal("vit", models.GetProperty("sam").GetProperty("encoder").GetString());
        Assert.Equal("cpu", models.GetProperty("sam").GetProperty("device").GetString());
        Assert.False(models.TryGetProperty("diffusion", out var ___));
        var r = await client.PostAsync("/api/diffusion/sample", JsonBody("{}"));
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Contains("no diffusion model is loaded", (await TestModels.Json(r)).GetProperty("error").GetString());

        var openapi = await TestModels.Json(await client.GetAsync("/openapi.json"));
        var paths = openapi.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var p in new[] { "/api/sam/images", "/api/sam/predict", "/api/sam/auto", "/api/diffusion/sample", "/api/seg/predict", "/api/health", "/api/models" })
            Assert.Contains(p, paths);
        Assert.True(openapi.GetProperty("components").GetProperty("schemas").TryGetProperty("SamPredictRequest", out var schema));

        string page = await client.GetStringAsync("/");
        Assert.Contains("<script src=\"/app.js\">", page);
        foreach (var file in new[] { "/", "/app.js", "/app.css" })
        {
            string text = await client.GetStringAsync(file);
            Assert.DoesNotMatch(@"(src|href)=""(https?:)?//", text); // nothing fetched from elsewhere: the page works offline
            Assert.DoesNotContain("@import", text);
        }
    }
}
