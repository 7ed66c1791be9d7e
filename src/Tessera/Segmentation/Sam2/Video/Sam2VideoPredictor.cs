using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// SAM 2's video predictor (Ravi et al. 2024; the official <c>SAM2VideoPredictor</c>): prompt objects with clicks, a box
/// or a mask on any frame (<see cref="AddNewPointsOrBox"/>, <see cref="AddNewMask"/>), then track them through the
/// video forwards or backwards (<see cref="PropagateInVideo"/>), each object with its own memory bank.
/// </summary>
public sealed class Sam2VideoPredictor : IDisposable
{
    private readonly Sam2Model _model;
    private readonly Sam2VideoParts _parts;
    private readonly bool _ownsModel;

    /// <summary>
    /// A predictor over a loaded model, its video parts built from <see cref="Sam2Model.VideoWeights"/>. A
    /// <paramref name="precision"/> below float32 converts the model's image encoder in place (Hiera and its neck,
    /// <see cref="Sam.Modeling.EncoderPrecision"/>), which encodes every frame; the frame features it gives, the memory
    /// attention, the memory encoder, the object pointers and the mask decoder stay float32 (they carry the state from
    /// frame to frame, and are a small share of the work).
    /// </summary>
    /// <exception cref="TesseraUserException">The checkpoint had no video weights, the encoder was converted to another precision already, or float16 on a CPU without float16 instructions.</exception>
    public Sam2VideoPredictor(Sam2Model model, Sam2TrackerOptions? options = null, Runtime.Precision precision = Runtime.Precision.Float32)
        : this(model, options, precision, ownsModel: false) { }

    private Sam2VideoPredictor(Sam2Model model, Sam2TrackerOptions? options, Runtime.Precision precision, bool ownsModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        Runtime.PrecisionInfo.Require(precision, model.NoMemoryEmbedding.device, nameof(precision));
        model.ImageEncoder.ApplyPrecision(precision);
        _model = model;
        _parts = Sam2VideoParts.FromWeights(model.VideoWeights, "the SAM 2 checkpoint");
        _parts.to(model.NoMemoryEmbedding.device);
        Tracker = new Sam2Tracker(model, _parts, options);
        _ownsModel = ownsModel;
    }

    /// <summary>Loads an official SAM 2 / 2.1 checkpoint (<see cref="Sam2Model.Load"/>) for video, the image encoder at <paramref name="precision"/>.</summary>
    public static Sam2VideoPredictor Load(string path, torch.Device? device = null, Sam2TrackerOptions? options = null, int imageSize = 1024, Runtime.Precision precision = Runtime.Precision.Float32)
    {
        var model = Sam2Model.Load(path, device, imageSize: imageSize);
        try
        {
            return new Sam2VideoPredictor(model, options, precision, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The tracking step.</summary>
    public Sam2Tracker Tracker { get; }
    /// <summary>The model.</summary>
    public Sam2Model Model => _model;
    /// <summary>The precision the image encoder runs at.</summary>
    public Runtime.Precision Precision => _model.ImageEncoder.Precision;
    /// <summary>The video parts.</summary>
    public Sam2VideoParts Parts => _parts;
    private torch.Device Device => _model.NoMemoryEmbedding.device;

    /// <summary>
    /// A state over <paramref name="videoPath"/>, as the official <c>init_state</c> takes it: a folder of JPEG frames
    /// (<see cref="Sam2VideoFrames.Open"/>) or a video file (<see cref="Sam2VideoFrames.OpenVideo"/>); the state owns the
    /// frames. Frame 0's features are computed. <paramref name="options"/> keep the state's tensors in CPU memory with the
    /// model on a GPU.
    /// </summary>
    public Sam2VideoState InitState(string videoPath, Sam2VideoStateOptions? options = null, CancellationToken cancellationToken = default)
    {
        var frames = Directory.Exists(videoPath) ? Sam2VideoFrames.Open(videoPath) : Sam2VideoFrames.OpenVideo(videoPath, cancellationToken);
        try
        {
            return Init(new Sam2VideoState(frames, Tracker.Options.CachedFrames, ownsFrames: true, options));
        }
        catch
        {
            frames.Dispose();
            throw;
        }
    }

    /// <summary>A state over <paramref name="frames"/> (which the caller keeps and disposes after the state); frame 0's features are computed.</summary>
    public Sam2VideoState InitState(Sam2VideoFrames frames, Sam2VideoStateOptions? options = null) =>
        Init(new Sam2VideoState(frames, Tracker.Options.CachedFrames, ownsFrames: false, options));

    private Sam2VideoState Init(Sam2VideoState state)
    {
        Cached(state, 0);
        return state;
    }

    // a frame's features as cached: computed on the model's device, kept in CPU memory when the video is offloaded
    private Sam2FrameFeatures Cached(Sam2VideoState state, int frame) =>
        state.Features(frame, f =>
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var features = Tracker.EncodeFrame(state.Frames.ModelInput(f, _model.ImageSize, Device));
            if (state.Options.OffloadVideoToCpu) features = On(features, torch.CPU); // the device copies leave with the scope
            features.Features.DetachFromDisposeScope();
            features.Position.DetachFromDisposeScope();
            features.HighRes.S0.DetachFromDisposeScope();
            features.HighRes.S1.DetachFromDisposeScope();
            return features;
        });

    // a frame's features on the model's device, for use inside the caller's dispose scope
    private Sam2FrameFeatures Features(Sam2VideoState state, int frame)
    {
        var cached = Cached(state, frame);
        return state.Options.OffloadVideoToCpu ? On(cached, Device) : cached;
    }

    private static Sam2FrameFeatures On(Sam2FrameFeatures f, torch.Device device) =>
        new(f.Features.to(device), f.Position.to(device), new HighResFeatures(f.HighRes.S0.to(device), f.HighRes.S1.to(device)));

    // where the state keeps outputs' memory features and mask logits (the official storage_device)
    private torch.Device Storage(Sam2VideoState state) => state.Options.OffloadStateToCpu ? torch.CPU : Device;

    /// <summary>
    /// Clicks (<paramref name="points"/> (x, y) with <paramref name="labels"/> 1 positive, 0 negative) and/or a box
    /// (x0, y0, x1, y1) for object <paramref name="objectId"/> on <paramref name="frame"/>, in video pixels (or in [0, 1]
    /// when <paramref name="normalizeCoords"/> is false); with <paramref name="clearOldPoints"/> false they are added to
    /// the frame's earlier clicks. Returns every object's mask on the frame.
    /// </summary>
    /// <exception cref="TesseraUserException">A frame out of range, no prompt, points without labels, or a box added to old points.</exception>
    public Sam2VideoFrameResult AddNewPointsOrBox(Sam2VideoState state, int frame, int objectId, IReadOnlyList<(double X, double Y)>? points = null,
        IReadOnlyList<int>? labels = null, (double X0, double Y0, double X1, double Y1)? box = null, bool clearOldPoints = true, bool normalizeCoords = true)
    {
        CheckFrame(state, frame);
        if ((points is null) != (labels is null)) throw new TesseraUserException(nameof(labels), "points and labels must be given together");
        if (points is not null && points.Count != labels!.Count) throw new TesseraUserException(nameof(labels), $"{points.Count} points but {labels.Count} labels");
        if ((points is null || points.Count == 0) && box is null) throw new TesseraUserException(nameof(points), "give points or a box");
        if (box is not null && !clearOldPoints) throw new TesseraUserException(nameof(box), "a box must come before any click: add it with the old points cleared");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var track = state.Object(objectId);
        var xy = new List<float>();
        var lab = new List<int>();
        if (box is { } b) { xy.AddRange([(float)b.X0, (float)b.Y0, (float)b.X1, (float)b.Y1]); lab.AddRange([2, 3]); }
        for (int i = 0; i < (points?.Count ?? 0); i++) { xy.Add((float)points![i].X); xy.Add((float)points[i].Y); lab.Add(labels![i]); }
        var coords = torch.tensor(xy.ToArray()).view(1, -1, 2);
        // normalised by the video size, then scaled to the model input (float32, as the official code computes it)
        if (normalizeCoords) coords = coords / torch.tensor(new float[] { state.Frames.Width, state.Frames.Height });
        coords = (coords * (float)_model.ImageSize).to(Device);
        var labelTensor = torch.tensor(lab.ToArray(), dtype: torch.ScalarType.Int32).view(1, -1).to(Device);
        if (!clearOldPoints && track.Points.TryGetValue(frame, out var old))
        {
            coords = torch.cat([old.Coords, coords], 1);
            labelTensor = torch.cat([old.Labels, labelTensor], 1);
        }
        track.DropPoints(frame);
        track.Points[frame] = (coords.DetachFromDisposeScope(), labelTensor.DetachFromDisposeScope());
        track.DropMask(frame);

        var (isInit, reverse, isCond) = FrameRole(track, frame);
        // earlier logits of this object on this frame join the new clicks as a mask prompt
        torch.Tensor? previous = track.Latest(frame, isCond)?.MaskLogits.to(Device).clamp(-32f, 32f);
        var (output, _) = Tracker.Step(frame, isInit, Features(state, frame), track.Points[frame], null, track, state.FrameCount, reverse, previous);
        Sam2ObjectTrack.Put(isCond ? track.TempConditioning : track.TempNonConditioning, frame, output.StoreOn(Storage(state)).Detach());
        return Consolidate(state, frame, isCond).MoveOut();
    }

    /// <summary>A mask [H, W] (bool, or values ≥ 0.5 inside after resizing) for object <paramref name="objectId"/> on <paramref name="frame"/>.</summary>
    public Sam2VideoFrameResult AddNewMask(Sam2VideoState state, int frame, int objectId, torch.Tensor mask)
    {
        CheckFrame(state, frame);
        if (mask.dim() != 2) throw new TesseraUserException(nameof(mask), $"mask must be [H, W], got [{string.Join(", ", mask.shape)}]");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var track = state.Object(objectId);
        int s = _model.ImageSize;
        var m = mask.to(torch.ScalarType.Float32).to(Device).view(1, 1, mask.shape[0], mask.shape[1]);
        if (mask.shape[0] != s || mask.shape[1] != s)
        {
            m = functional.interpolate(m, [s, s], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
            m = m.ge(0.5).to(torch.ScalarType.Float32);
        }
        track.DropMask(frame);
        track.Masks[frame] = m.DetachFromDisposeScope();
        track.DropPoints(frame);
        var (isInit, reverse, isCond) = FrameRole(track, frame);
        var (output, _) = Tracker.Step(frame, isInit, Features(state, frame), null, track.Masks[frame], track, state.FrameCount, reverse, null);
        Sam2ObjectTrack.Put(isCond ? track.TempConditioning : track.TempNonConditioning, frame, output.StoreOn(Storage(state)).Detach());
        return Consolidate(state, frame, isCond).MoveOut();
    }

    /// <summary>
    /// Tracks every object from <paramref name="startFrame"/> (default: the earliest prompted frame) over at most
    /// <paramref name="maxFrames"/> frames (default: all), forwards or backwards, yielding each frame's masks. Prompts
    /// added since the last propagation are first encoded into memory.
    /// </summary>
    /// <exception cref="TesseraUserException">No object has been prompted, or an object has no prompted frame.</exception>
    public IEnumerable<Sam2VideoFrameResult> PropagateInVideo(Sam2VideoState state, int? startFrame = null, int? maxFrames = null, bool reverse = false,
        CancellationToken cancellationToken = default)
    {
        Preflight(state);
        int n = state.FrameCount;
        int start = startFrame ?? state.Objects.SelectMany(o => o.Conditioning.Keys).Min();
        CheckFrame(state, start);
        int count = maxFrames ?? n;
        IEnumerable<int> order = reverse
            ? (start > 0 ? Enumerable.Range(0, start - Math.Max(start - count, 0) + 1).Select(i => start - i) : [])
            : Enumerable.Range(start, Math.Min(start + count, n - 1) - start + 1);
        return Run(state, order, reverse, cancellationToken);
    }

    private IEnumerable<Sam2VideoFrameResult> Run(Sam2VideoState state, IEnumerable<int> order, bool reverse, CancellationToken cancellationToken)
    {
        foreach (int frame in order)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var masks = new List<torch.Tensor>();
            var scores = new List<float>();
            foreach (var track in state.Objects)
            {
                if (!track.Conditioning.TryGetValue(frame, out var output))
                {
                    var features = Features(state, frame);
                    var (o, high) = Tracker.Step(frame, false, features, null, null, track, state.FrameCount, reverse, null);
                    o.MemoryFeatures = Tracker.EncodeMemory(features, high, o.ObjectScoreLogits, fromPoints: false);
                    Sam2ObjectTrack.Put(track.NonConditioning, frame, o.StoreOn(Storage(state)).Detach());
                    output = o;
                }
                track.TrackedReverse[frame] = reverse;
                masks.Add(output.MaskLogits.to(Device));
                scores.Add(output.ObjectScoreLogits.item<float>());
            }
            var video = ToVideo(state, torch.cat(masks.ToArray(), 0));
            yield return new Sam2VideoFrameResult(frame, state.ObjectIds, video.MoveToOuterDisposeScope(), scores);
        }
    }

    /// <summary>Removes every object with its prompts and outputs (the official <c>reset_state</c>).</summary>
    public void ResetState(Sam2VideoState state) => state.Reset();

    /// <summary>
    /// Removes object <paramref name="objectId"/> with its prompts and outputs (the official <c>remove_object</c>); the
    /// other objects keep their order, outputs and memories. Removing the only object resets the state
    /// (<see cref="ResetState"/>). Returns every remaining object's masks on each frame where the removed object had
    /// prompts, in frame order (the official <c>updated_frames</c>; empty after a reset); the remaining ids are
    /// <see cref="Sam2VideoState.ObjectIds"/>.
    /// </summary>
    /// <param name="state">The video's state.</param>
    /// <param name="objectId">The object to remove.</param>
    /// <param name="strict">An unknown <paramref name="objectId"/> is an error; otherwise it changes nothing and the result is empty.</param>
    /// <exception cref="TesseraUserException"><paramref name="strict"/> and no such object.</exception>
    public IReadOnlyList<Sam2VideoFrameResult> RemoveObject(Sam2VideoState state, int objectId, bool strict = false)
    {
        var track = state.Find(objectId);
        if (track is null)
        {
            if (!strict) return [];
            throw new TesseraUserException(nameof(objectId), $"no object {objectId} to remove; the objects are [{string.Join(", ", state.ObjectIds)}]");
        }
        if (state.Objects.Count == 1)
        {
            ResetState(state);
            return [];
        }
        // the frames where it had prompts: the others' outputs there are shown again, as upstream consolidates them
        var frames = track.Points.Keys.Concat(track.Masks.Keys).Distinct().Order().ToList();
        state.Remove(track);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        return [.. frames.Select(f => Consolidate(state, f, HasTempConditioning(state, f)).MoveOut())];
    }

    /// <summary>
    /// Removes object <paramref name="objectId"/>'s clicks, box or mask on <paramref name="frame"/> (the official
    /// <c>clear_all_prompts_in_frame</c>): a prompt not yet propagated is dropped; a propagated prompted frame stops
    /// being a conditioning frame — its output stays as a tracked frame's until the next propagation recomputes it — and
    /// the frame counts as never tracked, so the next prompt there starts from scratch. Returns every object's masks on
    /// the frame. As upstream, an id not seen before becomes a new object without prompts (prompt it or remove it
    /// before propagating).
    /// </summary>
    /// <exception cref="TesseraUserException">A frame out of range.</exception>
    public Sam2VideoFrameResult ClearAllPromptsInFrame(Sam2VideoState state, int frame, int objectId)
    {
        CheckFrame(state, frame);
        var track = state.Object(objectId);
        track.DropPoints(frame);
        track.DropMask(frame);
        if (track.TempConditioning.Remove(frame, out var temp)) temp.Dispose();
        if (track.TempNonConditioning.Remove(frame, out temp)) temp.Dispose();
        if (track.Conditioning.Remove(frame, out var output))
        {
            Sam2ObjectTrack.Put(track.NonConditioning, frame, output);
            track.TrackedReverse.Remove(frame);
        }
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        return Consolidate(state, frame, HasTempConditioning(state, frame)).MoveOut();
    }

    private static bool HasTempConditioning(Sam2VideoState state, int frame) => state.Objects.Any(o => o.TempConditioning.ContainsKey(frame));

    // propagate_in_video_preflight: encode the memories of the prompted frames and merge them into the outputs.
    private void Preflight(Sam2VideoState state)
    {
        if (state.Objects.Count == 0) throw new TesseraUserException("prompts", "no object has been prompted: add points, a box or a mask first");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        int s = _model.ImageSize;
        foreach (var track in state.Objects)
        {
            foreach (var (temp, target) in new[] { (track.TempNonConditioning, track.NonConditioning), (track.TempConditioning, track.Conditioning) })
            {
                foreach (var (frame, output) in temp)
                {
                    if (output.MemoryFeatures is null)
                    {
                        var high = functional.interpolate(output.MaskLogits.to(Device), [s, s], mode: torch.InterpolationMode.Bilinear, align_corners: false);
                        output.MemoryFeatures = Tracker.EncodeMemory(Features(state, frame), high, output.ObjectScoreLogits, fromPoints: true);
                        output.StoreOn(Storage(state)).Detach();
                    }
                    Sam2ObjectTrack.Put(target, frame, output);
                }
                temp.Clear();
            }
            if (track.Conditioning.Count == 0)
                throw new TesseraUserException("prompts", $"object {track.Id} has no prompted frame: add points, a box or a mask for it first");
            foreach (int frame in track.Conditioning.Keys)
                if (track.NonConditioning.Remove(frame, out var stale) && !ReferenceEquals(stale, track.Conditioning[frame])) stale.Dispose();
        }
    }

    private (bool IsInit, bool Reverse, bool IsCond) FrameRole(Sam2ObjectTrack track, int frame)
    {
        bool isInit = !track.TrackedReverse.TryGetValue(frame, out bool reverse);
        return (isInit, !isInit && reverse, isInit || Tracker.Options.AddAllFramesToCorrectAsConditioning);
    }

    // _consolidate_temp_output_across_obj at video resolution
    private Sam2VideoFrameResult Consolidate(Sam2VideoState state, int frame, bool isCond)
    {
        var masks = new List<torch.Tensor>();
        var scores = new List<float>();
        foreach (var track in state.Objects)
        {
            if (track.Latest(frame, isCond) is { } o)
            {
                masks.Add(ToVideo(state, o.MaskLogits.to(Device)));
                scores.Add(o.ObjectScoreLogits.item<float>());
            }
            else
            {
                masks.Add(torch.full(1, 1, state.Frames.Height, state.Frames.Width, Sam2Tracker.NoObjectScore, device: Device));
                scores.Add(float.NaN);
            }
        }
        return new Sam2VideoFrameResult(frame, state.ObjectIds, torch.cat(masks.ToArray(), 0), scores);
    }

    private static torch.Tensor ToVideo(Sam2VideoState state, torch.Tensor logits) =>
        functional.interpolate(logits, [state.Frames.Height, state.Frames.Width], mode: torch.InterpolationMode.Bilinear, align_corners: false);

    private static void CheckFrame(Sam2VideoState state, int frame)
    {
        if (frame < 0 || frame >= state.FrameCount) throw new TesseraUserException("frame", $"frame {frame} is outside the video's {state.FrameCount} frames");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _parts.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
