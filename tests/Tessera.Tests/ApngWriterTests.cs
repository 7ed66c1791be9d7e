using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// <see cref="ApngWriter"/> read back by <see cref="ApngCheck"/> (the APNG 1.0 chunk rules, CRCs computed bit by bit,
/// each frame's data reassembled into a PNG); and the bounds of <see cref="Sam2TrackPreview"/>.
/// </summary>
public sealed class ApngWriterTests
{
    [Fact]
    public void Frames_come_back_exactly_with_their_delay()
    {
        const int w = 37, h = 11, n = 4;
        // frame k: a gradient shifted by k (odd width: rows are not a multiple of any word)
        byte[] Frame(int k) => [.. Enumerable.Range(0, w * h * 3).Select(i => (byte)((i * 7 + k * 31 + (i / (w * 3)) * 13) & 0xFF))];
        using var dir = new TempDir();
        using (var file = File.Create(dir.File("a.png"))) ApngWriter.Write(file, w, h, n, Frame, 1001, 30000);
        var (plays, frames) = ApngCheck.Read(dir.File("a.png"));
        Assert.Equal(0, plays);
        Assert.Equal(n, frames.Count);
        for (int k = 0; k < n; k++)
        {
            Assert.Equal((w, h, 1001, 30000), (frames[k].Width, frames[k].Height, frames[k].DelayNumerator, frames[k].DelayDenominator));
            Assert.Equal(Frame(k), frames[k].Rgb);
        }
        // a viewer without APNG sees frame 0: the file is a valid PNG of it
        using var still = ImageIO.Load(dir.File("a.png"), ColorMode.Rgb);
        Assert.Equal(Frame(0), still.permute(1, 2, 0).contiguous().bytes.ToArray());
    }

    [Fact]
    public void A_long_run_is_strided_to_the_frame_limit_and_a_wide_one_scaled_to_the_width_limit()
    {
        var (frames, stride) = Sam2TrackPreview.Strided([.. Enumerable.Range(0, 1000)], 120);
        Assert.Equal(9, stride); // ⌈1000 / 120⌉
        Assert.Equal(112, frames.Count);
        Assert.Equal([0, 9, 18], frames.Take(3));
        Assert.Equal(1, Sam2TrackPreview.Strided([.. Enumerable.Range(0, 120)], 120).Stride);
        Assert.Equal((480, 270), Sam2TrackPreview.Fit(1920, 1080, 480));
        Assert.Equal((160, 90), Sam2TrackPreview.Fit(160, 90, 480));
    }
}
