using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera sam track</c>.</summary>
internal sealed class SamTrackSettings : GlobalSettings
{
    private const string Where = "@FRAME[[:OBJECT]]";

    [CommandOption("--checkpoint <FILE>"), Description("A SAM 2 / SAM 2.1 checkpoint as released (sam2.1_hiera_*.pt) with its video weights.")] public string? Checkpoint { get; init; }
    [CommandOption("--frames <DIR>"), Description("The video as a folder of JPEG frames named by number (00000.jpg, 00001.jpg, …; the official layout).")] public string? Frames { get; init; }
    [CommandOption("--video <FILE>"), Description("The video as a file (mp4, mkv, webm, avi, … — anything Debian's ffmpeg decodes; ffmpeg must be installed); instead of --frames.")] public string? Video { get; init; }
    [CommandOption("--point <X,Y[[,LABEL]]" + Where + ">"), Description("A click in frame pixels on frame FRAME (0-based) for object OBJECT (1–255, default 1); LABEL 1 (object, default) or 0 (background). Repeat for more clicks and objects.")] public string[] Points { get; init; } = [];
    [CommandOption("--box <X0,Y0,X1,Y1" + Where + ">"), Description("A box in frame pixels on frame FRAME for object OBJECT (default 1); one per object and frame, with or without clicks.")] public string[] Boxes { get; init; } = [];
    [CommandOption("--mask <PNG" + Where + ">"), Description("A mask PNG (grayscale or palette, non-zero pixels inside; any size, resized to the model input) on frame FRAME for object OBJECT (default 1); alone for its object and frame.")] public string[] Masks { get; init; } = [];
    [CommandOption("--output <DIR>"), Description("Folder for labels/NAME.png (pixel value = object id), overlays/NAME.png, preview.png (animated PNG of the overlays), preview.gif (the same frames as a GIF, where ffmpeg is installed), contact-sheet.png and summary.json. Default sam-track")] public string Output { get; init; } = "sam-track";
    [CommandOption("--reverse"), Description("Track backwards, from the latest prompted frame to frame 0 (default: forwards from the earliest prompted frame to the end).")] public bool Reverse { get; init; }
    [CommandOption("--both"), Description("Track forwards from the earliest prompted frame, then backwards from the latest; frames reached twice keep the backward masks.")] public bool Both { get; init; }
    [CommandOption("--precision <P>"), Description("fp32 (default), bf16 or fp16: the image encoder's number format (bf16 is fast on CPUs with avx512_bf16/AMX; fp16 needs a GPU or avx512_fp16); memory attention, memory encoder and decoder stay fp32.")] public string PrecisionName { get; init; } = "fp32";
    [CommandOption("--image-size <PX>"), Description("Side of the square model input (the configuration's image_size, which the weights do not show). Default 1024, every release")] public int ImageSize { get; init; } = 1024;

    public override ValidationResult Validate()
    {
        if (string.IsNullOrEmpty(Checkpoint)) return ValidationResult.Error("--checkpoint: required");
        if (string.IsNullOrEmpty(Frames) == string.IsNullOrEmpty(Video)) return ValidationResult.Error("give the video as --frames DIR or --video FILE (one of them)");
        if (Points.Length == 0 && Boxes.Length == 0 && Masks.Length == 0) return ValidationResult.Error("give at least one --point, --box or --mask (each X…@FRAME[:OBJECT])");
        if (Reverse && Both) return ValidationResult.Error("--reverse and --both: give one");
        if (ImageSize < 16 || ImageSize % 16 != 0) return ValidationResult.Error($"--image-size: {ImageSize}; expected a positive multiple of 16");
        if (OptionChoices.Check<Tessera.Runtime.Precision>("--precision", PrecisionName, "precision") is { Successful: false } bad) return bad;
        return base.Validate();
    }

    /// <summary>The tracking direction of --reverse / --both.</summary>
    internal Sam2TrackDirection Direction => Both ? Sam2TrackDirection.Both : Reverse ? Sam2TrackDirection.Backward : Sam2TrackDirection.Forward;

    /// <summary>The prompts, each with the option text it came from (masks read from their PNGs).</summary>
    internal List<(string Flag, Sam2TrackPrompt Prompt)> Prompts()
    {
        var prompts = new List<(string, Sam2TrackPrompt)>();
        foreach (var text in Points)
        {
            var (value, frame, obj) = Split("--point", text, "x,y[,label]");
            var v = ListOption.Numbers("--point", value, 2, 3, "x,y or x,y,label");
            if (v.Length == 3 && v[2] is not (0 or 1)) throw new TesseraUserException($"--point '{text}': label {v[2]}; expected 1 (object) or 0 (background)");
            prompts.Add(($"--point '{text}'", new Sam2TrackPrompt(frame, obj) { Points = [(v[0], v[1], v.Length == 3 ? (int)v[2] : 1)] }));
        }
        foreach (var text in Boxes)
        {
            var (value, frame, obj) = Split("--box", text, "x0,y0,x1,y1");
            var v = ListOption.Numbers("--box", value, 4, 4, "x0,y0,x1,y1");
            prompts.Add(($"--box '{text}'", new Sam2TrackPrompt(frame, obj) { Box = (v[0], v[1], v[2], v[3]) }));
        }
        foreach (var text in Masks)
        {
            var (file, frame, obj) = Split("--mask", text, "file.png");
            var map = LabelPng.Read(file);
            var mask = torch.tensor(map.Labels).view(map.Height, map.Width).ne(0);
            prompts.Add(($"--mask '{text}'", new Sam2TrackPrompt(frame, obj) { Mask = mask }));
        }
        return prompts;
    }

    // VALUE@FRAME[:OBJECT]
    private static (string Value, int Frame, int Object) Split(string flag, string text, string form)
    {
        int at = text.LastIndexOf('@');
        string expected = $"{flag} '{text}': expected {form}@FRAME[:OBJECT] (frame 0-based, object id 1–255, default 1)";
        if (at < 0) throw new TesseraUserException(expected);
        var where = text[(at + 1)..].Split(':');
        int obj = 1;
        if (where.Length > 2 || !int.TryParse(where[0], NumberStyles.None, CultureInfo.InvariantCulture, out int frame)
            || (where.Length == 2 && !int.TryParse(where[1], NumberStyles.None, CultureInfo.InvariantCulture, out obj)))
            throw new TesseraUserException(expected);
        return (text[..at], frame, obj);
    }
}

/// <summary><c>tessera sam track</c>: <see cref="VideoTracking.Run"/> over a folder of frames or a video file.</summary>
internal sealed class SamTrackCommand : TesseraCommand<SamTrackSettings>
{
    public override int Execute(CommandContext context, SamTrackSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var prompts = settings.Prompts();
        try
        {
            // every input checked before the (slow) model load
            using var frames = OpenFrames(settings, cancellation);
            foreach (var (flag, prompt) in prompts)
            {
                try { VideoTracking.Validate([prompt], frames); }
                catch (TesseraUserException e) { throw new TesseraUserException($"{flag}: {e.Detail}"); }
            }
            VideoTracking.Validate([.. prompts.Select(p => p.Prompt)], frames);
            if (SamCheckpoints.Detect(settings.Checkpoint!) != SamFamily.Sam2)
                throw new TesseraUserException($"--checkpoint '{settings.Checkpoint}': a SAM or MobileSAM checkpoint; sam track needs a SAM 2 / SAM 2.1 checkpoint (sam2.1_hiera_*.pt)");
            var options = new Sam2TrackOptions { Direction = settings.Direction };
            var output = new Sam2TrackFolder(settings.Output, frames, options);
            using var predictor = Sam2VideoPredictor.Load(settings.Checkpoint!, device, imageSize: settings.ImageSize,
                precision: EnumNames.Parse<Tessera.Runtime.Precision>("--precision", settings.PrecisionName, "precision"));
            using var state = predictor.InitState(frames);
            int total = VideoTracking.Steps([.. prompts.Select(p => p.Prompt)], frames.Count, settings.Direction);
            var summary = Ui.WithProgress("tracking", total, "frames", report =>
                VideoTracking.Run(predictor, state, [.. prompts.Select(p => p.Prompt)], options, output,
                    new Reporter<Sam2TrackProgress>(p => report(p.Done, $"frame {p.Frame}")), cancellation));
            Ui.Result($"{summary.Frames.Count} frames, objects {string.Join(", ", summary.ObjectIds)}: {summary.SecondsPerFrame:0.000} s per frame ({summary.Steps} steps in {summary.Seconds:0.0} s)");
            string gif = summary.PreviewGifSkipped is null ? "preview.gif, " : "";
            Ui.Result($"wrote {Path.GetFullPath(settings.Output)}: labels/, overlays/, preview.png (animated), {gif}contact-sheet.png, summary.json");
            if (summary.PreviewGifSkipped is not null) Ui.Result(summary.PreviewGifSkipped);
        }
        finally
        {
            foreach (var (_, p) in prompts) p.Mask?.Dispose();
        }
        return Program.Ok;
    }

    private static Sam2VideoFrames OpenFrames(SamTrackSettings settings, CancellationToken cancellation)
    {
        if (settings.Video is not null)
        {
            // a missing file names --video; a missing ffmpeg or an undecodable file speaks for itself
            try { return Sam2VideoFrames.OpenVideo(settings.Video, cancellation); }
            catch (TesseraUserException e) when (e is not TesseraFormatException && e.Parameter is not null) { throw new TesseraUserException($"--video: {e.Detail}"); }
        }
        try { return Sam2VideoFrames.Open(settings.Frames!); }
        catch (TesseraUserException e) when (e is not TesseraFormatException) { throw new TesseraUserException($"--frames: {e.Detail}"); }
    }
}
