namespace Tessera.Server;

/// <summary>Answer to a clip upload (<c>POST /api/sam/videos</c>).</summary>
/// <param name="Id">Handle of the clip for its frames, tracking and results.</param>
/// <param name="Frames">Number of frames.</param>
/// <param name="Width">Frame width in pixels.</param>
/// <param name="Height">Frame height in pixels.</param>
public sealed record VideoResponse(string Id, int Frames, int Width, int Height);

/// <summary>One object's prompt on one frame of a clip.</summary>
/// <param name="Frame">Frame index (0-based).</param>
/// <param name="ObjectId">Object id 1–255 (its value in the label maps; default 1).</param>
/// <param name="Points">Clicks [x, y, label] in frame pixels; label 1 = object, 0 = background (default 1).</param>
/// <param name="Box">A box [x0, y0, x1, y1] in frame pixels.</param>
public sealed record VideoPrompt(int Frame, int? ObjectId = null, double[][]? Points = null, double[]? Box = null);

/// <summary>A tracking run (<c>POST /api/sam/videos/{id}/track</c>).</summary>
/// <param name="Prompts">The clicks and boxes, per object and frame.</param>
/// <param name="Direction">forward (default: from the earliest prompted frame to the end), backward (from the latest to frame 0) or both.</param>
public sealed record VideoTrackRequest(VideoPrompt[]? Prompts, string? Direction = null);

/// <summary>Where a clip's tracking run stands (<c>GET /api/sam/videos/{id}/track</c>).</summary>
/// <param name="State">idle (never tracked), queued, tracking, done, cancelled or failed.</param>
/// <param name="Run">Number of the run (1 for the first; results of a run are replaced by the next).</param>
/// <param name="Done">Frame steps done.</param>
/// <param name="Total">Frame steps of the run (a frame reached by both passes counts twice).</param>
/// <param name="Frames">Frames with results so far, ascending: fetch their label and overlay PNGs.</param>
/// <param name="ObjectIds">The objects tracked.</param>
/// <param name="SecondsPerFrame">Seconds per frame step, when done.</param>
/// <param name="Error">Why the run failed, when it did.</param>
public sealed record VideoTrackStatus(string State, int Run, int Done, int Total, int[] Frames, int[] ObjectIds, double? SecondsPerFrame = null, string? Error = null);
