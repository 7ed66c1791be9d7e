using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// The memory bank's frame choices in the settings the fixture session does not reach (a temporal stride r &gt; 1, a
/// limit on conditioning frames), against values worked by hand from sam2_base.py and sam2_utils.py at 2b90b9f.
/// </summary>
public sealed class Sam2MemoryBankTests
{
    [Fact]
    public void Recent_frames_with_stride_take_every_rth_frame_and_the_adjacent_one()
    {
        // forwards from 20, r = 5: t_rel 1 → 19; t_rel ≥ 2 → ((20 − 2) // 5)·5 − (t_rel − 2)·5 = 15, 10, 5, 0, −5
        Assert.Equal([(1, -5), (2, 0), (3, 5), (4, 10), (5, 15), (6, 19)], Sam2MemoryBank.RecentFrames(20, 7, 5, reverse: false));
        // backwards from 20: t_rel 1 → 21; t_rel ≥ 2 → −(−(20 + 2) // 5)·5 + (t_rel − 2)·5 = 25, 30, 35, 40, 45
        Assert.Equal([(1, 45), (2, 40), (3, 35), (4, 30), (5, 25), (6, 21)], Sam2MemoryBank.RecentFrames(20, 7, 5, reverse: true));
        // r = 1 is simply the six previous frames
        Assert.Equal([(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)], Sam2MemoryBank.RecentFrames(10, 7, 1, reverse: false));
    }

    [Fact]
    public void Conditioning_frames_beyond_the_limit_keep_the_closest_before_and_after()
    {
        var (selected, unselected) = Sam2MemoryBank.SelectConditioningFrames(10, [0, 4, 9, 12, 30], 3);
        // closest before (9), closest at or after (12), then the nearest other (4, at distance 6)
        Assert.Equal([9, 12, 4], selected);
        Assert.Equal([0, 30], unselected);
        var (all, none) = Sam2MemoryBank.SelectConditioningFrames(5, [9, 0, 4], -1);
        Assert.Equal([0, 4, 9], all);
        Assert.Empty(none);
    }

    [Fact]
    public void Pointers_are_the_past_conditioning_frames_then_the_nearest_tracked_frames()
    {
        // frame 6 forwards, conditioning 0 and 8 (8 is in the future: left out), tracked frames 1..5, at most 4 pointers
        var ptrs = Sam2MemoryBank.PointerFrames(6, [0, 8], t => t is >= 1 and <= 5, numFrames: 10, maxPointers: 4, onlyPast: true, signed: true, reverse: false);
        Assert.Equal([(6, 0, true), (1, 5, false), (2, 4, false), (3, 3, false)], ptrs);
        // backwards the signed offset of a conditioning frame after the current one is (frame − t)·(−1) > 0
        ptrs = Sam2MemoryBank.PointerFrames(2, [0, 8], _ => false, numFrames: 10, maxPointers: 16, onlyPast: true, signed: true, reverse: true);
        Assert.Equal([(6, 8, true)], ptrs);
    }
}
