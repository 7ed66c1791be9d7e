using Tessera.Data;
using static TorchSharp.torch;

namespace Tessera.Tests;

// Serial: the memory test holds the process in a no-GC region, which allocations of parallel tests would end.
[Collection("serial")]
public class BatcherTests
{
    private static List<long> Rows(IEnumerable<Batch> batches, int? limit = null)
    {
        var rows = new List<long>();
        int n = 0;
        foreach (Batch b in batches)
        {
            using (b)
            {
                // The inputs really are the rows the indices name.
                Assert.Equal(b.Indices, b.Inputs.data<long>().ToArray());
                Assert.Equal(b.Indices.Select(i => i * 10).ToArray(), b.Targets!.data<long>().ToArray());
                rows.AddRange(b.Indices);
            }
            if (++n == limit) break;
        }
        return rows;
    }

    [Fact]
    public void Each_epoch_visits_every_row_once_in_a_seeded_order()
    {
        using var x = arange(103L);
        using var y = arange(103L).mul(10);
        var batcher = new Batcher(x, y, new BatcherOptions(10, Shuffle: true, Seed: 42));
        List<long> e0 = Rows(batcher.Epoch(0)), e0again = Rows(batcher.Epoch(0)), e1 = Rows(batcher.Epoch(1));
        Assert.Equal(Enumerable.Range(0, 103).Select(i => (long)i), e0.Order());
        Assert.Equal(e0, e0again);
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(e0, Enumerable.Range(0, 103).Select(i => (long)i));
        var other = new Batcher(x, y, new BatcherOptions(10, Shuffle: true, Seed: 43));
        Assert.NotEqual(e0, Rows(other.Epoch(0)));
        var sync = new Batcher(x, y, new BatcherOptions(10, Shuffle: true, Seed: 42, Prefetch: 0));
        Assert.Equal(e0, Rows(sync.Epoch(0)));
        Assert.Equal(11, batcher.BatchesPerEpoch);
        var drop = new Batcher(x, y, new BatcherOptions(10, Seed: 42, DropLast: true));
        Assert.Equal(100, Rows(drop.Epoch(0)).Count);
    }

    [Fact]
    public void Forever_from_a_step_continues_the_same_stream()
    {
        using var x = arange(25L);
        using var y = arange(25L).mul(10);
        var batcher = new Batcher(x, y, new BatcherOptions(4, Seed: 7));
        List<long> all = Rows(batcher.Forever(), limit: 20);
        List<long> resumed = Rows(batcher.Forever(start: 9), limit: 11);
        // Batches per epoch = 7 (the last holds one row); batch 9 is epoch 1, batch 2.
        int skipped = Rows(batcher.Forever(), limit: 9).Count;
        Assert.Equal(all.Skip(skipped), resumed);
    }

    [Fact]
    public void Permutation_is_uniform_enough()
    {
        // Over many shuffles of 4 items, each item lands in each slot about 1/4 of the time.
        var counts = new int[4, 4];
        var rng = new SplitMix64(1);
        for (int t = 0; t < 8000; t++)
        {
            long[] p = rng.Permutation(4);
            for (int slot = 0; slot < 4; slot++) counts[p[slot], slot]++;
        }
        foreach (int c in counts) Assert.InRange(c, 1800, 2200);
    }

    [Fact]
    public void Abandoned_epochs_release_their_batches_and_memory_stays_flat()
    {
        using var x = randn(64, 8);
        var batcher = new Batcher(x, null, new BatcherOptions(4, Seed: 1, Prefetch: 3));
        foreach (var b in batcher.Epoch(0)) { b.Dispose(); break; }
        Settle();
        // No garbage collection (so no finaliser) may run while counting: the live-tensor count then
        // moves only through explicit disposal, and a leak cannot hide behind the GC.
        Assert.True(GC.TryStartNoGCRegion(200_000_000));
        try
        {
            long before = torch.Tensor.TotalCount;
            // An epoch abandoned after one batch, with three more prefetched: all must be freed.
            foreach (var b in batcher.Epoch(1)) { b.Dispose(); break; }
            Assert.Equal(before, torch.Tensor.TotalCount);
            // Thousands of steps, each in a dispose scope: the count ends where it began.
            long steps = 0, peak = 0;
            foreach (Batch b in batcher.Forever())
            {
                using (var scope = NewDisposeScope())
                using (b)
                    _ = b.Inputs.mul(2).sum();
                peak = Math.Max(peak, torch.Tensor.TotalCount - before);
                if (++steps == 3000) break;
            }
            Assert.Equal(before, torch.Tensor.TotalCount);
            Assert.InRange(peak, 0, 8); // at most the prefetched batches are alive at once
        }
        finally
        {
            if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }

    /// <summary>Lets the GC finalise tensors other tests leaked, so the live count measures this test alone.</summary>
    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
