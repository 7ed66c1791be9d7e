using Tessera.IO.Video;
using Tessera.Segmentation.Inference;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// The output folder of a tracking run: per frame <c>labels/NAME.png</c> (a palette PNG whose pixel values are the object
/// ids, 0 background; where objects overlap, the one with the highest mask logit, as the official
/// <c>_apply_non_overlapping_constraints</c> keeps), <c>overlays/NAME.png</c> (the frame with each object in its palette
/// colour), and at the end <c>preview.png</c> (an animated PNG of the overlays, <see cref="Sam2TrackPreview"/>),
/// <c>preview.gif</c> (the same frames as a GIF, encoded by ffmpeg; skipped, and the summary says so, where ffmpeg is not
/// on PATH), <c>contact-sheet.png</c> (up to <see cref="Sam2TrackOptions.ContactSheetFrames"/> overlays) and <c>summary.json</c> (per frame each object's area in pixels and object-score logit). NAME is the frame's
/// <see cref="Sam2VideoFrames.Names"/> entry. A frame written twice keeps the last write. Every file is written atomically.
/// </summary>
public sealed class Sam2TrackFolder
{
    private readonly string _folder;
    private readonly Sam2VideoFrames _frames;
    private readonly Sam2TrackOptions _options;
    private readonly SortedDictionary<int, (int[] Ids, long[] Areas, float[] Scores)> _written = [];

    /// <summary>Creates <paramref name="folder"/> (with labels/ and overlays/) for the frames of <paramref name="frames"/>.</summary>
    /// <exception cref="TesseraUserException"><paramref name="folder"/> is a file.</exception>
    public Sam2TrackFolder(string folder, Sam2VideoFrames frames, Sam2TrackOptions? options = null)
    {
        if (File.Exists(folder)) throw new TesseraUserException(nameof(folder), $"'{folder}' is a file; expected a folder");
        _folder = Path.GetFullPath(folder);
        _frames = frames;
        _options = options ?? new Sam2TrackOptions();
        _options.Validate();
        Directory.CreateDirectory(Path.Combine(_folder, "labels"));
        Directory.CreateDirectory(Path.Combine(_folder, "overlays"));
    }

    /// <summary>The frames written so far, in frame order.</summary>
    public IReadOnlyList<int> Frames => [.. _written.Keys];

    /// <summary>The label PNG of frame <paramref name="frame"/>.</summary>
    public string LabelFile(int frame) => Path.Combine(_folder, "labels", Name(frame) + ".png");

    /// <summary>The overlay PNG of frame <paramref name="frame"/>.</summary>
    public string OverlayFile(int frame) => Path.Combine(_folder, "overlays", Name(frame) + ".png");

    /// <summary>The animated preview (an APNG of the overlays; viewers without APNG show its first frame).</summary>
    public string PreviewFile => Path.Combine(_folder, "preview.png");

    /// <summary>The animated GIF preview (the frames of <see cref="PreviewFile"/>, encoded by ffmpeg).</summary>
    public string PreviewGifFile => Path.Combine(_folder, "preview.gif");

    /// <summary>The folders searched for ffmpeg (PATH-style; null: the PATH environment variable).</summary>
    internal string? FfmpegSearchPath { get; init; }

    /// <summary>The contact sheet of a few overlays.</summary>
    public string ContactSheetFile => Path.Combine(_folder, "contact-sheet.png");

    /// <summary>The summary JSON.</summary>
    public string SummaryFile => Path.Combine(_folder, "summary.json");

    private string Name(int frame) => _frames.Names[frame];

    /// <summary>Colour of object id <paramref name="id"/> (1–255) in the label PNGs and overlays; 0 (background) is black.</summary>
    public static (byte R, byte G, byte B) Colour(int id) => id == 0 ? ((byte)0, (byte)0, (byte)0) : MaskOverlay.Colour(id - 1);

    /// <summary>Writes the label map and overlay of one frame's masks.</summary>
    public void Write(Sam2VideoFrameResult result)
    {
        using var scope = torch.NewDisposeScope();
        int n = result.ObjectIds.Count, frame = result.FrameIndex;
        var ids = result.ObjectIds.ToArray();
        if (ids.Any(id => id is < 1 or > 255)) throw new TesseraUserException(nameof(result), "object ids must be 1–255 to be written as label values");
        var logits = result.MaskLogits.detach().cpu().to(torch.ScalarType.Float32).view(n, _frames.Height, _frames.Width);
        var (best, which) = logits.max(0);
        var idTable = torch.tensor(ids.Select(i => (byte)i).ToArray());
        var labels = torch.where(best.gt(0), idTable.index_select(0, which.flatten()).view(_frames.Height, _frames.Width), torch.zeros(1, dtype: torch.ScalarType.Byte)).contiguous();
        var palette = Enumerable.Range(0, ids.Max() + 1).Select(i => { var (r, g, b) = Colour(i); return new[] { r, g, b }; }).ToList();
        PalettePng.Write(LabelFile(frame), labels.bytes, _frames.Width, _frames.Height, palette);

        var rgb = _frames.Rgb(frame).permute(2, 0, 1);
        var masks = ids.Select(id => labels.eq((byte)id)).ToList();
        ImageIO.SavePng(MaskOverlay.Masks(rgb, masks, [.. ids.Select(Colour)], _options.OverlayOpacity), OverlayFile(frame));
        _written[frame] = (ids, [.. masks.Select(m => m.sum().item<long>())], [.. result.ObjectScores]);
    }

    /// <summary>
    /// Writes the animated previews (<c>preview.gif</c> only where ffmpeg is on PATH), the contact sheet and the summary
    /// JSON of <paramref name="summary"/>; returns <paramref name="summary"/> with <see cref="Sam2TrackSummary.PreviewGifSkipped"/>
    /// set where the GIF was not written (ffmpeg not on PATH, or failed: the other files are written all the same).
    /// </summary>
    public Sam2TrackSummary Finish(Sam2TrackSummary summary, Sam2TrackDirection direction)
    {
        var frames = Frames;
        var sheet = Sam2TrackPreview.Spread(frames, _options.ContactSheetFrames);
        var (animated, stride) = Sam2TrackPreview.Strided(frames, _options.AnimationFrames);
        double fps = _frames.FramesPerSecond ?? _options.FramesPerSecond;
        if (frames.Count > 0)
        {
            string[] overlays = [.. animated.Select(OverlayFile)];
            Sam2TrackPreview.WriteAnimation(PreviewFile, overlays, _frames.Width, _frames.Height, _options.AnimationWidth, stride / fps);
            summary = summary with { PreviewGifSkipped = WriteGif(overlays, stride / fps) };
            Sam2TrackPreview.WriteContactSheet(ContactSheetFile, [.. sheet.Select(OverlayFile)], _frames.Width, _frames.Height, _options.ContactSheetWidth);
        }
        WriteSummary(summary, direction, sheet, animated, fps / stride);
        return summary;
    }

    // preview.gif through ffmpeg; why not, or null when written. A failing ffmpeg loses the GIF only, not the run's other outputs.
    private string? WriteGif(IReadOnlyList<string> overlays, double seconds)
    {
        if (Ffmpeg.TryFind("ffmpeg", FfmpegSearchPath) is not string ffmpeg)
            return "preview.gif not written: ffmpeg not found on PATH (install Debian's ffmpeg for the GIF; preview.png has the same frames)";
        try
        {
            Sam2TrackPreview.WriteGif(ffmpeg, PreviewGifFile, overlays, _frames.Width, _frames.Height, _options.AnimationWidth, seconds);
            return null;
        }
        catch (IOException e)
        {
            return $"preview.gif not written: {e.Message} (preview.png has the same frames)";
        }
    }

    private void WriteSummary(Sam2TrackSummary summary, Sam2TrackDirection direction, IReadOnlyList<int> sheet, IReadOnlyList<int> animated, double previewFps)
    {
        AtomicFile.Write(SummaryFile, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteStartObject("video");
            w.WriteNumber("frames", _frames.Count);
            w.WriteNumber("width", _frames.Width);
            w.WriteNumber("height", _frames.Height);
            if (_frames.FramesPerSecond is double videoFps) w.WriteNumber("fps", Math.Round(videoFps, 4));
            w.WriteEndObject();
            w.WriteString("direction", direction.ToString().ToLowerInvariant());
            w.WriteStartArray("objects");
            foreach (int id in summary.ObjectIds) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteNumber("frames_tracked", _written.Count);
            w.WriteNumber("steps", summary.Steps);
            w.WriteNumber("seconds", Math.Round(summary.Seconds, 3));
            w.WriteNumber("seconds_per_frame", Math.Round(summary.SecondsPerFrame, 4));
            w.WriteStartObject("preview");
            w.WriteNumber("fps", Math.Round(previewFps, 4));
            w.WriteString("apng", "preview.png");
            if (summary.PreviewGifSkipped is null) w.WriteString("gif", "preview.gif");
            else
            {
                w.WriteNull("gif");
                w.WriteString("gif_skipped", summary.PreviewGifSkipped);
            }
            w.WriteStartArray("frames");
            foreach (int f in animated) w.WriteNumberValue(f);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartArray("contact_sheet_frames");
            foreach (int f in sheet) w.WriteNumberValue(f);
            w.WriteEndArray();
            w.WriteStartArray("frames");
            foreach (var (frame, (ids, areas, scores)) in _written)
            {
                w.WriteStartObject();
                w.WriteNumber("frame", frame);
                w.WriteString("labels", $"labels/{Name(frame)}.png");
                w.WriteString("overlay", $"overlays/{Name(frame)}.png");
                w.WriteStartObject("objects");
                for (int i = 0; i < ids.Length; i++)
                {
                    w.WriteStartObject(ids[i].ToString(CultureInfo.InvariantCulture));
                    w.WriteNumber("area", areas[i]);
                    if (float.IsFinite(scores[i])) w.WriteNumber("score", Math.Round(scores[i], 5));
                    else w.WriteNull("score");
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }
}
