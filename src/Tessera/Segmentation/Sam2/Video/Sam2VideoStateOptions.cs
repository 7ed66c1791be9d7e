namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// Where a video's state keeps its tensors when the model runs on a GPU (the official <c>init_state</c>'s
/// <c>offload_video_to_cpu</c> and <c>offload_state_to_cpu</c>). With the model on the CPU both change nothing: every
/// tensor is in CPU memory already, and the results are the same either way.
/// </summary>
public sealed record Sam2VideoStateOptions
{
    /// <summary>
    /// Keep the video's per-frame data in CPU memory and copy a frame to the model's device when it is used. Upstream
    /// this holds the decoded frames; Tessera never holds decoded frames (each is read from its file and preprocessed on
    /// the CPU when its features are computed), so here it holds the cached frame features
    /// (<see cref="Sam2TrackerOptions.CachedFrames"/>).
    /// </summary>
    public bool OffloadVideoToCpu { get; init; }

    /// <summary>
    /// Keep the tracking outputs' large tensors — each object's memory features and low-resolution mask logits on every
    /// tracked frame — in CPU memory (upstream's storage device); object pointers and object scores stay on the model's
    /// device, as upstream keeps them, and the masks a call returns are on the model's device.
    /// </summary>
    public bool OffloadStateToCpu { get; init; }
}
