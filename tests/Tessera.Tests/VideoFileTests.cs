using Tessera.IO.Video;
using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// Video files through Debian's ffmpeg (<see cref="VideoFile"/>, <see cref="Sam2VideoFrames.OpenVideo"/>) on
/// tests/fixtures/sam2video/clip.mkv: the fixture's JPEG frames as Pillow decodes them, stored losslessly (FFV1) by
/// ffmpeg (make_video.sh there). The frames must come back as Pillow's pixels (the fixture's recorded <c>frames</c>)
/// byte for byte. ffmpeg must be installed (CI installs it): without it these tests fail, they do not skip.
/// </summary>
public sealed class VideoFileTests
{
    internal static string Clip => Path.Combine(Sam2MemoryFixtureTests.Dir, "clip.mkv");

    [Fact]
    public void Video_frames_are_the_jpeg_frames_as_pillow_decodes_them()
    {
        using var video = Sam2VideoFrames.OpenVideo(Clip);
        var jpeg = Sam2VideoFrames.Open(Path.Combine(Sam2MemoryFixtureTests.Dir, "frames"));
        Assert.Equal((10, 90, 160), (video.Count, video.Height, video.Width));
        Assert.Equal(10.0, video.FramesPerSecond);
        Assert.Equal(["00000", "00001", "00002", "00003", "00004", "00005", "00006", "00007", "00008", "00009"], video.Names);
        Assert.Empty(video.Paths);
        var pillow = Sam2MemoryFixtureTests.Recorded.Ref("frames"); // the fixture's tensor: not ours to dispose
        // backwards, then forwards: random access into the decoded frames
        foreach (int i in Enumerable.Range(0, 10).Reverse().Concat(Enumerable.Range(0, 10)))
        {
            using var got = video.Rgb(i);
            using var want = pillow[i];
            using var fromJpeg = jpeg.Rgb(i);
            Assert.Equal([90L, 160L, 3L], got.shape);
            Assert.Equal(0L, got.ne(want).sum().item<long>());
            Assert.Equal(0L, got.ne(fromJpeg).sum().item<long>());
        }
        // the same model input as the JPEG frame's (same resize and normalisation)
        using var a = video.ModelInput(3, 64, torch.CPU);
        using var b = jpeg.ModelInput(3, 64, torch.CPU);
        Assert.Equal(0L, a.ne(b).sum().item<long>());
    }

    [Fact]
    public void A_video_file_streams_its_frames_then_ends()
    {
        using var video = VideoFile.Open(Clip);
        Assert.Equal((160, 90, "ffv1"), (video.Width, video.Height, video.Codec));
        Assert.Null(video.DeclaredFrameCount); // Matroska declares none
        Assert.Equal(10.0, video.FramesPerSecond);
        var frame = new byte[video.FrameBytes];
        int n = 0;
        while (video.ReadFrame(frame)) n++;
        Assert.Equal(10, n);
        Assert.Equal(10, video.FramesRead);
        Assert.False(video.ReadFrame(frame));
        // the last frame's first pixel as Pillow decodes frames/00009.jpg
        var pillow = Sam2MemoryFixtureTests.Recorded.Ref("frames");
        using var last = pillow[9];
        Assert.Equal(last.flatten()[..3].data<byte>().ToArray(), frame[..3]);
    }

    [Fact]
    public void A_frame_limit_refuses_a_longer_video_and_keeps_a_video_within_it()
    {
        using (var video = VideoFile.Open(Clip))
        {
            var e = Assert.Throws<TesseraUserException>(() => Sam2VideoFrames.Decode(video, 9, default));
            Assert.Equal("maxFrames", e.Parameter);
            Assert.Contains("more than 9 frames", e.Message);
            Assert.Equal(10, video.FramesRead); // refused at the first frame beyond the limit
        }
        using (var video = VideoFile.Open(Clip))
        {
            using var frames = Sam2VideoFrames.Decode(video, 10, default);
            Assert.Equal((10, Clip), (frames.Count, frames.Source));
        }
    }

    [Fact]
    public void Disposing_midway_stops_the_decoder()
    {
        var video = VideoFile.Open(Clip);
        var frame = new byte[video.FrameBytes];
        Assert.True(video.ReadFrame(frame));
        video.Dispose();
        Assert.Throws<ObjectDisposedException>(() => video.ReadFrame(frame));
    }

    [Fact]
    public void A_missing_file_is_a_user_error_naming_it()
    {
        var e = Assert.Throws<TesseraUserException>(() => Sam2VideoFrames.OpenVideo("/nonexistent/clip.mp4"));
        Assert.Equal("path", e.Parameter);
        Assert.Contains("'/nonexistent/clip.mp4' does not exist", e.Message);
    }

    [Fact]
    public void A_text_file_is_not_a_video()
    {
        string readme = Path.Combine(Sam2MemoryFixtureTests.Dir, "README.md");
        var e = Assert.Throws<TesseraFormatException>(() => Sam2VideoFrames.OpenVideo(readme));
        Assert.Equal(readme, e.Path);
        Assert.Contains("not a video file ffmpeg can read", e.Message);
    }

    [Fact]
    public void Without_ffmpeg_on_the_path_the_error_says_to_install_it()
    {
        using var empty = new TempDir();
        var e = Assert.Throws<TesseraUserException>(() => Ffmpeg.Find("ffmpeg", empty.Path));
        Assert.Equal("ffmpeg not found on PATH: install Debian's ffmpeg (apt-get install ffmpeg, version 5.1 or later) to read video files", e.Message);
        // and where it is installed (CI installs it), it is found
        Assert.True(File.Exists(Ffmpeg.Find("ffmpeg")));
        Assert.True(File.Exists(Ffmpeg.Find("ffprobe")));
    }
}
