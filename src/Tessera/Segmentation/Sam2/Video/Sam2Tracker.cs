using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// SAM 2's tracking step for one object on one frame (sam2_base.py, <c>track_step</c>; Ravi et al. 2024, §4): the
/// frame's features conditioned on the memory bank by the memory attention (or, on a first prompted frame, plus the
/// "no memory" embedding), the SAM heads on them (prompt encoder and mask decoder, multimask as configured, object
/// score, object pointer), and optionally the new memory (<see cref="EncodeMemory"/>).
/// </summary>
public sealed class Sam2Tracker
{
    /// <summary>Placeholder logit of a mask whose object is absent (NO_OBJ_SCORE).</summary>
    public const float NoObjectScore = -1024f;

    private readonly Sam2Model _model;
    private readonly Sam2VideoParts _parts;

    /// <summary>Creates the tracker over a model and its video parts.</summary>
    public Sam2Tracker(Sam2Model model, Sam2VideoParts parts, Sam2TrackerOptions? options = null)
    {
        _model = model;
        _parts = parts;
        Options = options ?? new Sam2TrackerOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public Sam2TrackerOptions Options { get; }

    /// <summary>A preprocessed frame [1, 3, S, S]'s features (forward_image, then the stride-16 level and the projected high-resolution levels).</summary>
    public Sam2FrameFeatures EncodeFrame(torch.Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        using var backbone = _model.ImageEncoder.forward(input);
        var highRes = _model.MaskDecoder.ProjectHighRes(backbone.BackboneFpn[0], backbone.BackboneFpn[1]);
        var f = new Sam2FrameFeatures(backbone.BackboneFpn[^1].clone(), backbone.PositionEncodings[^1].clone(), highRes);
        f.Features.MoveToOuterDisposeScope();
        f.Position.MoveToOuterDisposeScope();
        highRes.S0.MoveToOuterDisposeScope();
        highRes.S1.MoveToOuterDisposeScope();
        return f;
    }

    /// <summary>
    /// One tracking step (without the memory encoder): <paramref name="points"/> (coords [1, P, 2] in model-input
    /// pixels, labels [1, P]) or a <paramref name="mask"/> [1, 1, S, S] on this frame, or neither on a tracked frame;
    /// <paramref name="previousLogits"/> (low-resolution, with correction clicks) as a mask prompt. Returns the output
    /// and the mask logits at the model's input size [1, 1, S, S].
    /// </summary>
    public (Sam2FrameOutput Output, torch.Tensor HighResMasks) Step(int frame, bool isInitialConditioning, Sam2FrameFeatures features,
        (torch.Tensor Coords, torch.Tensor Labels)? points, torch.Tensor? mask, Sam2ObjectTrack track, int numFrames, bool reverse, torch.Tensor? previousLogits)
    {
        using var scope = torch.NewDisposeScope();
        (torch.Tensor Low, torch.Tensor High, torch.Tensor Ptr, torch.Tensor Score) r;
        if (mask is not null && Options.UseMaskInputAsOutput)
            r = MaskAsOutput(features, mask);
        else
        {
            var pix = ConditionOnMemory(frame, isInitialConditioning, features, track, numFrames, reverse);
            int clicks = points is { } p ? (int)p.Labels.shape[1] : 0;
            bool multimask = Options.MultimaskOutputInSam && (isInitialConditioning || Options.MultimaskOutputForTracking)
                && Options.MultimaskMinPoints <= clicks && clicks <= Options.MultimaskMaxPoints;
            r = SamHeads(pix, points, previousLogits ?? mask, features.HighRes, multimask);
        }
        var output = new Sam2FrameOutput(null, r.Low.MoveToOuterDisposeScope(), r.Ptr.MoveToOuterDisposeScope(), r.Score.MoveToOuterDisposeScope());
        return (output, r.High.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The memory of a frame (<c>_encode_new_memory</c>): its features and predicted mask logits [1, 1, S, S] through the
    /// memory encoder — the mask binarised when it came from clicks (as configured), else a sigmoid, then scaled and
    /// shifted — plus the no-object embedding where the object score is not positive. Stored in bfloat16 as the
    /// official predictor stores it.
    /// </summary>
    public torch.Tensor EncodeMemory(Sam2FrameFeatures features, torch.Tensor highResMasks, torch.Tensor objectScoreLogits, bool fromPoints)
    {
        using var scope = torch.NewDisposeScope();
        var m = Options.BinarizeMaskFromPointsForMemoryEncoder && fromPoints
            ? highResMasks.gt(0).to(torch.ScalarType.Float32)
            : torch.sigmoid(highResMasks);
        if (Options.SigmoidScaleForMemoryEncoder != 1) m = m * Options.SigmoidScaleForMemoryEncoder;
        if (Options.SigmoidBiasForMemoryEncoder != 0) m = m + Options.SigmoidBiasForMemoryEncoder;
        var (mem, _) = _parts.MemoryEncoder.Forward(features.Features, m, skipMaskSigmoid: true);
        if (_parts.NoObjectSpatialEmbedding is { } noObj)
        {
            // memory += (1 − [score > 0])·no_obj_embed_spatial
            var absent = 1 - objectScoreLogits.gt(0).to(mem.dtype);
            mem = mem + absent.view(-1, 1, 1, 1) * noObj.view(1, -1, 1, 1);
        }
        return mem.to(torch.ScalarType.BFloat16).MoveToOuterDisposeScope();
    }

    // _prepare_memory_conditioned_features: [1, C, h, w]
    private torch.Tensor ConditionOnMemory(int frame, bool isInitialConditioning, Sam2FrameFeatures features, Sam2ObjectTrack track, int numFrames, bool reverse)
    {
        var f = features.Features;
        long c = f.shape[1], h = f.shape[2], w = f.shape[3];
        if (isInitialConditioning)
            return f + _model.NoMemoryEmbedding.view(1, -1, 1, 1); // directly_add_no_mem_embed
        if (track.Conditioning.Count == 0) throw new InvalidOperationException("a tracked frame needs a conditioning frame of its object");
        var (selected, unselected) = Sam2MemoryBank.SelectConditioningFrames(frame, track.Conditioning.Keys, Options.MaxConditioningFramesInAttention);
        Sam2FrameOutput? Other(int t) => track.NonConditioning.GetValueOrDefault(t) ?? (unselected.Contains(t) ? track.Conditioning[t] : null);
        int n = _parts.NumMaskMemories;
        var memories = new List<(int TPos, Sam2FrameOutput Out)>(selected.Select(t => (0, track.Conditioning[t])));
        foreach (var (tPos, t) in Sam2MemoryBank.RecentFrames(frame, n, Options.MemoryTemporalStride, reverse))
            if (Other(t) is { } o) memories.Add((tPos, o));
        var memoryPos = _parts.MemoryEncoder.PositionMap(h, w, f.device).flatten(2).transpose(1, 2); // [1, hw, C_mem]
        var tokens = new List<torch.Tensor>();
        var positions = new List<torch.Tensor>();
        foreach (var (tPos, o) in memories)
        {
            tokens.Add(o.MemoryFeatures!.to(f.device).to(torch.ScalarType.Float32).flatten(2).transpose(1, 2));
            // spatial encoding + the temporal encoding of position t_pos
            positions.Add(memoryPos + _parts.MaskMemoryTemporalEncoding[n - tPos - 1].view(1, 1, -1));
        }
        long pointerTokens = 0;
        bool temporal = _parts.PointerTemporalEncoding;
        var ptrs = Sam2MemoryBank.PointerFrames(frame, selected, t => Other(t) is not null, numFrames, Options.MaxObjectPointers,
            Options.OnlyObjectPointersInThePast, signed: temporal, reverse);
        if (ptrs.Count > 0)
        {
            var pointers = torch.stack(ptrs.Select(p => (p.Conditioning ? track.Conditioning[p.Frame] : Other(p.Frame)!).ObjectPointer).ToArray(), 1); // [1, P, C]
            long memDim = _parts.Memory.MemoryDim;
            torch.Tensor pos;
            if (temporal)
            {
                // temporal encoding of each pointer's offset over the largest offset (get_1d_sine_pe), projected
                double maxOffset = Math.Min(numFrames, Options.MaxObjectPointers) - 1;
                var offsets = torch.tensor(ptrs.Select(p => (float)p.Offset).ToArray(), device: f.device) / (float)maxOffset;
                pos = _parts.ProjectTemporal(Sam2PointerEncoding.Sine1D(offsets, (int)c)).unsqueeze(0); // [1, P, C_mem]
            }
            else pos = torch.zeros(1, ptrs.Count, memDim, device: f.device);
            if (memDim < c)
            {
                // a pointer of width C becomes C / C_mem tokens of the memory width
                long split = c / memDim;
                pointers = pointers.reshape(1, ptrs.Count * split, memDim);
                pos = pos.repeat_interleave(split, 1);
            }
            tokens.Add(pointers);
            positions.Add(pos);
            pointerTokens = pointers.shape[1];
        }
        var memory = torch.cat(tokens.ToArray(), 1);
        var memoryPositions = torch.cat(positions.ToArray(), 1);
        var current = f.flatten(2).transpose(1, 2);
        var currentPos = features.Position.flatten(2).transpose(1, 2);
        var conditioned = _parts.MemoryAttention.Forward(current, currentPos, memory, memoryPositions, pointerTokens);
        return conditioned.transpose(1, 2).reshape(1, c, h, w);
    }

    // _forward_sam_heads for a batch of one: (low-res masks, high-res masks, object pointer, object score)
    private (torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor) SamHeads(torch.Tensor pix, (torch.Tensor Coords, torch.Tensor Labels)? points,
        torch.Tensor? maskPrompt, HighResFeatures highRes, bool multimask)
    {
        var coords = points?.Coords ?? torch.zeros(1, 1, 2, device: pix.device);
        var labels = points?.Labels ?? -torch.ones(1, 1, torch.ScalarType.Int32, device: pix.device);
        var pe = _model.PromptEncoder;
        if (maskPrompt is not null && (maskPrompt.shape[2], maskPrompt.shape[3]) != ((long)pe.MaskInputSize.H, (long)pe.MaskInputSize.W))
            maskPrompt = functional.interpolate(maskPrompt.to(torch.ScalarType.Float32), [pe.MaskInputSize.H, pe.MaskInputSize.W],
                mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var (sparse, dense) = pe.forward(coords, labels, null, maskPrompt);
        using var all = _model.MaskDecoder.DecodeAll(pix, pe.DensePositionalEncoding(), sparse, dense, highRes);
        using var chosen = _model.MaskDecoder.Choose(all, multimask);
        var tokens = _model.MaskDecoder.PointerTokens(all, multimask);
        var score = all.ObjectScoreLogits.clone();
        var appearing = score.gt(0); // [1, 1]
        // masks of an absent object are NO_OBJ_SCORE everywhere (a hard choice, as the memory will see it)
        var lowMulti = torch.where(appearing.view(-1, 1, 1, 1), chosen.Masks, torch.tensor(NoObjectScore, device: pix.device));
        int s = _model.ImageSize;
        var highMulti = functional.interpolate(lowMulti, [s, s], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        var token = tokens[.., 0];
        torch.Tensor low = lowMulti, high = highMulti;
        if (multimask)
        {
            var best = chosen.Iou.argmax(-1); // [1]
            low = lowMulti.index_select(1, best);
            high = highMulti.index_select(1, best);
            if (tokens.shape[1] > 1) token = tokens.index_select(1, best).squeeze(1);
        }
        var ptr = _parts.ProjectPointer(token);
        // fixed no-object pointer: ptr·λ + (1 − λ)·no_obj_ptr, λ = [score > 0]
        var lambda = appearing.to(torch.ScalarType.Float32);
        if (Options.FixedNoObjectPointer) ptr = lambda * ptr;
        ptr = ptr + (1 - lambda) * _parts.NoObjectPointer;
        return (low, high, ptr, score);
    }

    // _use_mask_as_output: the mask prompt [1, 1, S, S] as logits ±10; the pointer from the decoder on the downsampled mask
    private (torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor) MaskAsOutput(Sam2FrameFeatures features, torch.Tensor mask)
    {
        var m = mask.to(torch.ScalarType.Float32);
        var high = m * 20f - 10f;
        var low = functional.interpolate(high, [high.shape[2] / 4, high.shape[3] / 4], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var (_, _, ptr, _) = SamHeads(features.Features, null, _parts.DownsampleMaskPrompt(m), features.HighRes, multimask: false);
        var lambda = m.flatten(1).gt(0).any(1, keepdim: true).to(torch.ScalarType.Float32); // [1, 1]
        var score = lambda * 20f - 10f;
        if (Options.FixedNoObjectPointer) ptr = lambda * ptr;
        ptr = ptr + (1 - lambda) * _parts.NoObjectPointer;
        return (low, high, ptr, score);
    }
}
