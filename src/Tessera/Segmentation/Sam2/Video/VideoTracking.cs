using System.Diagnostics;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// A whole tracking run over a video: every prompt added to a fresh state (object by object in ascending id, frame by
/// frame), then the objects tracked through the video (<see cref="Sam2VideoPredictor.PropagateInVideo"/>) in the
/// direction asked, each frame's masks handed to a <see cref="Sam2TrackFolder"/> as it comes.
/// </summary>
public static class VideoTracking
{
    /// <summary>
    /// Prompts the objects on <paramref name="state"/> (which must hold no object yet), tracks them in
    /// <paramref name="options"/>' direction, writes each frame through <paramref name="output"/> and finishes it.
    /// </summary>
    /// <exception cref="TesseraUserException">No prompt, a prompt's frame outside the video, an object id outside 1–255, a click or box outside the frame, a label other than 0 or 1, two boxes or a mask with clicks for one object on one frame, or a state already prompted.</exception>
    public static Sam2TrackSummary Run(Sam2VideoPredictor predictor, Sam2VideoState state, IReadOnlyList<Sam2TrackPrompt> prompts, Sam2TrackOptions options,
        Sam2TrackFolder output, IProgress<Sam2TrackProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        Validate(prompts, state.Frames);
        if (state.Objects.Count > 0) throw new TesseraUserException(nameof(state), "the video state already holds prompted objects: reset it first");
        foreach (var group in prompts.GroupBy(p => (p.ObjectId, p.Frame)).OrderBy(g => g.Key.ObjectId).ThenBy(g => g.Key.Frame))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (id, frame) = group.Key;
            var mask = group.Select(p => p.Mask).FirstOrDefault(m => m is not null);
            var points = group.SelectMany(p => p.Points).ToList();
            var box = group.Select(p => p.Box).FirstOrDefault(b => b is not null);
            using var added = mask is not null
                ? predictor.AddNewMask(state, frame, id, mask)
                : predictor.AddNewPointsOrBox(state, frame, id, points.Count > 0 ? [.. points.Select(p => (p.X, p.Y))] : null,
                    points.Count > 0 ? [.. points.Select(p => p.Label)] : null, box);
        }
        int total = Steps(prompts, state.FrameCount, options.Direction), done = 0;
        var clock = Stopwatch.StartNew();
        foreach (var (start, reverse) in Passes(prompts, options.Direction))
        {
            foreach (var result in predictor.PropagateInVideo(state, startFrame: start, reverse: reverse, cancellationToken: cancellationToken))
            {
                using (result) output.Write(result);
                // counted outside the report: `progress?.Report(…)` evaluates no argument without a progress
                done++;
                progress?.Report(new Sam2TrackProgress(done, total, result.FrameIndex));
            }
        }
        var summary = new Sam2TrackSummary(output.Frames, state.ObjectIds.Order().ToList(), done, clock.Elapsed.TotalSeconds);
        return output.Finish(summary, options.Direction);
    }

    /// <summary>The frame steps a run of <paramref name="prompts"/> over <paramref name="frameCount"/> frames in <paramref name="direction"/> takes (a frame reached by both passes counts twice).</summary>
    public static int Steps(IReadOnlyList<Sam2TrackPrompt> prompts, int frameCount, Sam2TrackDirection direction) =>
        // the official order: backwards from frame 0 tracks nothing
        prompts.Count == 0 ? 0 : Passes(prompts, direction).Sum(p => p.Reverse ? (p.Start > 0 ? p.Start + 1 : 0) : frameCount - p.Start);

    // forwards from the earliest prompted frame, backwards from the latest
    private static (int Start, bool Reverse)[] Passes(IReadOnlyList<Sam2TrackPrompt> prompts, Sam2TrackDirection direction)
    {
        int first = prompts.Min(p => p.Frame), last = prompts.Max(p => p.Frame);
        return direction switch
        {
            Sam2TrackDirection.Forward => [(first, false)],
            Sam2TrackDirection.Backward => [(last, true)],
            _ => [(first, false), (last, true)],
        };
    }

    /// <summary>Checks <paramref name="prompts"/> against the video's <paramref name="frames"/>; messages name the prompt.</summary>
    /// <exception cref="TesseraUserException">See <see cref="Run"/>.</exception>
    public static void Validate(IReadOnlyList<Sam2TrackPrompt> prompts, Sam2VideoFrames frames)
    {
        if (prompts.Count == 0) throw new TesseraUserException(nameof(prompts), "no prompt: give at least one click, box or mask");
        int w = frames.Width, h = frames.Height;
        foreach (var p in prompts)
        {
            string where = $"object {p.ObjectId} on frame {p.Frame}";
            if (p.Frame < 0 || p.Frame >= frames.Count)
                throw new TesseraUserException(nameof(prompts), $"{where}: the video has {frames.Count} frames (0–{frames.Count - 1})");
            if (p.ObjectId is < 1 or > 255) throw new TesseraUserException(nameof(prompts), $"{where}: object ids are 1–255 (the label maps' pixel values; 0 is background)");
            foreach (var (x, y, label) in p.Points)
            {
                if (!(x >= 0 && x <= w && y >= 0 && y <= h))
                    throw new TesseraUserException(nameof(prompts), $"{where}: click ({x}, {y}) is outside the {w} x {h} frame");
                if (label is not (0 or 1)) throw new TesseraUserException(nameof(prompts), $"{where}: click label {label}; expected 1 (object) or 0 (background)");
            }
            if (p.Box is { } b && !(b.X0 >= 0 && b.Y0 >= 0 && b.X1 <= w && b.Y1 <= h && b.X0 < b.X1 && b.Y0 < b.Y1))
                throw new TesseraUserException(nameof(prompts), $"{where}: box ({b.X0}, {b.Y0}, {b.X1}, {b.Y1}) is not a box inside the {w} x {h} frame (x0 < x1, y0 < y1)");
            if (p.Mask is { } m && m.dim() != 2) throw new TesseraUserException(nameof(prompts), $"{where}: a mask is [H, W], got [{string.Join(", ", m.shape)}]");
            if (p.Points.Count == 0 && p.Box is null && p.Mask is null) throw new TesseraUserException(nameof(prompts), $"{where}: an empty prompt");
        }
        foreach (var g in prompts.GroupBy(p => (p.ObjectId, p.Frame)))
        {
            string where = $"object {g.Key.ObjectId} on frame {g.Key.Frame}";
            if (g.Count(p => p.Box is not null) > 1) throw new TesseraUserException(nameof(prompts), $"{where}: two boxes; give one box per object and frame");
            int masks = g.Count(p => p.Mask is not null);
            if (masks > 1 || (masks == 1 && g.Any(p => p.Points.Count > 0 || p.Box is not null)))
                throw new TesseraUserException(nameof(prompts), $"{where}: a mask prompt goes alone (no second mask, clicks or box on that frame for that object)");
        }
    }
}
