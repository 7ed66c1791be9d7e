namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// Settings of SAM 2's tracking (sam2_base.py and sam2_video_predictor.py), defaulting to what the official
/// configurations (configs/sam2.1/*.yaml, configs/sam2/*.yaml) and <c>build_sam2_video_predictor</c> give the released
/// models. Whether the object pointers get a projected, signed temporal encoding (SAM 2.1) or none (SAM 2.0) is read
/// from the weights (<c>obj_ptr_tpos_proj</c>), as is the memory size (<c>maskmem_tpos_enc</c>).
/// </summary>
public sealed record Sam2TrackerOptions
{
    /// <summary>Scale applied to the mask probabilities fed to the memory encoder (sigmoid_scale_for_mem_enc, 20).</summary>
    public double SigmoidScaleForMemoryEncoder { get; init; } = 20;
    /// <summary>Bias added to them (sigmoid_bias_for_mem_enc, −10).</summary>
    public double SigmoidBiasForMemoryEncoder { get; init; } = -10;
    /// <summary>Masks of frames with clicks enter the memory as 0/1 rather than probabilities (binarize_mask_from_pts_for_mem_enc; on in the video builder).</summary>
    public bool BinarizeMaskFromPointsForMemoryEncoder { get; init; } = true;
    /// <summary>A mask prompt is output as it is rather than decoded (use_mask_input_as_output_without_sam).</summary>
    public bool UseMaskInputAsOutput { get; init; } = true;
    /// <summary>Multimask output for at most <see cref="MultimaskMaxPoints"/> clicks (multimask_output_in_sam).</summary>
    public bool MultimaskOutputInSam { get; init; } = true;
    /// <summary>Multimask output on tracked frames too (multimask_output_for_tracking).</summary>
    public bool MultimaskOutputForTracking { get; init; } = true;
    /// <summary>Fewest clicks for multimask output (multimask_min_pt_num, 0; a box counts as two).</summary>
    public int MultimaskMinPoints { get; init; }
    /// <summary>Most clicks for multimask output (multimask_max_pt_num, 1).</summary>
    public int MultimaskMaxPoints { get; init; } = 1;
    /// <summary>Conditioning frames attended at most, the temporally closest (max_cond_frames_in_attn; −1: all).</summary>
    public int MaxConditioningFramesInAttention { get; init; } = -1;
    /// <summary>Temporal stride r of the non-conditioning memories (memory_temporal_stride_for_eval, 1).</summary>
    public int MemoryTemporalStride { get; init; } = 1;
    /// <summary>Object pointers attended at most (max_obj_ptrs_in_encoder, 16).</summary>
    public int MaxObjectPointers { get; init; } = 16;
    /// <summary>Only pointers of conditioning frames up to the current one (in tracking order) are attended (only_obj_ptrs_in_the_past_for_eval).</summary>
    public bool OnlyObjectPointersInThePast { get; init; } = true;
    /// <summary>Object pointers of frames without the object are the no-object pointer alone (fixed_no_obj_ptr).</summary>
    public bool FixedNoObjectPointer { get; init; } = true;
    /// <summary>Frames that receive correction clicks become conditioning frames (add_all_frames_to_correct_as_cond, off).</summary>
    public bool AddAllFramesToCorrectAsConditioning { get; init; }
    /// <summary>Frames whose image features are kept for reuse (the official predictor keeps the last one).</summary>
    public int CachedFrames { get; init; } = 4;

    /// <summary>Checks the settings; messages name the setting.</summary>
    public void Validate()
    {
        if (MemoryTemporalStride < 1) throw new TesseraUserException(nameof(MemoryTemporalStride), $"memory temporal stride must be at least 1, got {MemoryTemporalStride}");
        if (MaxObjectPointers < 1) throw new TesseraUserException(nameof(MaxObjectPointers), $"max object pointers must be at least 1, got {MaxObjectPointers}");
        if (MaxConditioningFramesInAttention is 0 or 1 or < -1) throw new TesseraUserException(nameof(MaxConditioningFramesInAttention), $"max conditioning frames in attention must be -1 (all) or at least 2, got {MaxConditioningFramesInAttention}");
        if (CachedFrames < 1) throw new TesseraUserException(nameof(CachedFrames), $"cached frames must be at least 1, got {CachedFrames}");
    }
}
