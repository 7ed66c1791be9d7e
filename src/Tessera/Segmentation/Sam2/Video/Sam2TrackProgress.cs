namespace Tessera.Segmentation.Sam2.Video;

/// <summary>Progress of <see cref="VideoTracking.Run"/>: <paramref name="Done"/> of <paramref name="Total"/> frame steps, the last one on <paramref name="Frame"/>.</summary>
public readonly record struct Sam2TrackProgress(int Done, int Total, int Frame);
