using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Bench;

/// <summary>
/// Issue 27's video speed: SAM 2.1 Hiera-T propagation in seconds per frame for one and three objects, Tessera's
/// <see cref="Sam2VideoPredictor"/> against the official <c>SAM2VideoPredictor</c> on PyTorch (bench/scripts/sam2_video_torch.py,
/// a process kept open and asked for one run at a time, so the two sides alternate run by run), same random checkpoint
/// (bench-cache/sam2t.pt, made by onnx_export.py's sam2t), same 480p clip (854 × 480 JPEGs, a crop moving over the SAM 2
/// repository's truck photo), same clicks (one positive click per object on frame 0), same thread count. Each run: a
/// fresh state over the folder (frames read, frame 0 encoded) and the clicks, untimed; then the forward propagation over
/// the whole clip, timed, divided by the frames it yields. Then <c>tessera sam track</c>'s time per frame on the clip
/// (<see cref="VideoTracking.Run"/> called as the CLI calls it, label PNGs, overlays and previews written).
/// `sam2video [threads] [reps] [frames]`.
/// </summary>
internal static class Sam2VideoBench
{
    /// <summary>The clicks (video pixels) of objects 1, 2, 3 — sam2_video_torch.py's POINTS.</summary>
    private static readonly (double X, double Y)[] Points = [(427, 240), (200, 330), (650, 150)];

    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = BenchSetup.Arg(args, 1, 3);
        int frameCount = BenchSetup.Arg(args, 2, 8);
        string cache = Path.GetFullPath("bench-cache");
        string checkpoint = Path.Combine(cache, "sam2t.pt");
        if (!File.Exists(checkpoint)) OnnxBench.Export(cache, ["sam2t"]);
        string frames = Path.Combine(cache, $"sam2video-{frameCount}");
        if (!Directory.Exists(frames)) MakeClip(frames, frameCount);
        using var predictor = Sam2VideoPredictor.Load(checkpoint);
        using var official = OfficialVideo.Start(checkpoint, frames, threads);
        if (official is null) Console.WriteLine("(no PyTorch baseline: TESSERA_BENCH_PYTHON must name a PyTorch 2 interpreter, e.g. bench/scripts/chroot-python.sh /work/chroot-trixie)");
        Ours(predictor, frames, 1); official?.SecondsPerFrame(1); // warm-up
        foreach (int objects in new[] { 1, 3 })
        {
            var (ours, theirs) = (new List<double>(), new List<double>());
            for (int r = 0; r < reps; r++)
            {
                ours.Add(Ours(predictor, frames, objects));
                if (official?.SecondsPerFrame(objects) is double t) theirs.Add(t);
            }
            double a = OnnxBench.Median(ours);
            string line = FormattableString.Invariant($"SAM 2.1 Hiera-T video propagation, {objects} object(s), 854x480, {frameCount} frames, {threads} threads, median of {reps} interleaved: Tessera {a:0.000} s/frame ({1 / a:0.00} frames/s)");
            if (theirs.Count > 0)
            {
                double b = OnnxBench.Median(theirs);
                line += FormattableString.Invariant($", official SAM2VideoPredictor {b:0.000} s/frame ({1 / b:0.00} frames/s), speed Tessera/PyTorch {b / a:0.00}");
            }
            Console.WriteLine(line + $" (runs: {Join(ours)} / {Join(theirs)}); load {File.ReadAllText("/proc/loadavg").Trim()}");
        }
        Track(predictor, frames, cache);
    }

    // One run of Tessera's predictor: fresh state and clicks untimed, then the forward propagation's seconds per frame.
    private static double Ours(Sam2VideoPredictor predictor, string frames, int objects)
    {
        using var state = predictor.InitState(frames);
        for (int i = 0; i < objects; i++)
            predictor.AddNewPointsOrBox(state, 0, i + 1, [Points[i]], [1]).Dispose();
        var sw = Stopwatch.StartNew();
        int n = 0;
        foreach (var result in predictor.PropagateInVideo(state))
        {
            result.Dispose();
            n++;
        }
        return sw.Elapsed.TotalSeconds / n;
    }

    // `tessera sam track --checkpoint sam2t.pt --frames DIR --point 427,240@0 --output DIR`, as the command runs it (the
    // model already loaded): its own seconds per frame (propagation and writing), and the whole call's.
    private static void Track(Sam2VideoPredictor predictor, string frames, string cache)
    {
        foreach (int objects in new[] { 1, 3 })
        {
            string output = Path.Combine(cache, "sam2video-track");
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
            var sw = Stopwatch.StartNew();
            var options = new Sam2TrackOptions();
            using var state = predictor.InitState(frames);
            var folder = new Sam2TrackFolder(output, state.Frames, options);
            var prompts = Enumerable.Range(0, objects).Select(i => new Sam2TrackPrompt(0, i + 1) { Points = [(Points[i].X, Points[i].Y, 1)] }).ToList();
            var summary = VideoTracking.Run(predictor, state, prompts, options, folder);
            double total = sw.Elapsed.TotalSeconds;
            Console.WriteLine(FormattableString.Invariant(
                $"sam track (VideoTracking.Run as the CLI calls it, Release, model loaded), {objects} object(s), {summary.Steps} frames 854x480: {summary.SecondsPerFrame:0.000} s per frame as the command reports it (tracking and writing labels/overlays), {total / summary.Steps:0.000} s per frame with the frame-0 encoding, prompts, previews (APNG, and GIF through ffmpeg) and summary; load {File.ReadAllText("/proc/loadavg").Trim()}"));
        }
    }

    private static void MakeClip(string frames, int count)
    {
        string photo = Path.Combine(Environment.GetEnvironmentVariable("SAM2_SRC") ?? Path.Combine("bench-cache", "sam2src"), "notebooks", "images", "truck.jpg");
        if (!File.Exists(photo)) throw new FileNotFoundException($"the clip's photo is not at {Path.GetFullPath(photo)} (bench/README.md: issue 27)");
        string tmp = frames + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        var values = PythonBaseline.Run("sam2_video_torch.py", "clip", Path.GetFullPath(photo), tmp, count.ToString(CultureInfo.InvariantCulture));
        if (!Directory.Exists(tmp)) throw new InvalidOperationException($"sam2_video_torch.py did not write the clip to {tmp}");
        Directory.Move(tmp, frames);
    }

    private static string Join(List<double> v) => string.Join(' ', v.Select(x => x.ToString("0.000", CultureInfo.InvariantCulture)));
}
