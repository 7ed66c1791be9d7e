using System.Buffers.Binary;
using System.IO.Compression;
using Tessera.Segmentation.Metrics;

namespace Tessera.Tests;

public class SegMetricsTests
{
    private static ConfusionMatrix Cm(int n, byte[] gt, byte[] pred, ConfusionOptions? options = null)
    {
        var cm = new ConfusionMatrix(options ?? new ConfusionOptions(n));
        cm.Add(gt, pred);
        return cm;
    }

    [Fact]
    public void Hand_worked_case_with_an_ignored_pixel()
    {
        // gt [0,0,1,1,2,255], pred [0,1,1,1,0,2]: the last pixel is ignored.
        var cm = Cm(3, [0, 0, 1, 1, 2, 255], [0, 1, 1, 1, 0, 2]);
        Assert.Equal(new long[] { 1, 1, 0, 0, 2, 0, 1, 0, 0 }, cm.Counts.ToArray());
        var m = SegmentationMetrics.Compute(cm);
        Assert.Equal(0.6, m.AAcc, 12);
        Assert.Equal(new[] { 1 / 3.0, 2 / 3.0, 0 }, m.PerClass.Select(c => c.IoU), new Tol());
        Assert.Equal(1 / 3.0, m.MIoU, 12);
        Assert.Equal(0.5, m.MAcc, 12);
        Assert.Equal(new[] { 0.5, 0.8, 0 }, m.PerClass.Select(c => c.Dice), new Tol());
        Assert.Equal(1.3 / 3, m.MDice, 12);
        Assert.Equal(0.5, m.PerClass[0].Precision, 12);
        Assert.Equal(2 / 3.0, m.PerClass[1].Precision, 12);
        Assert.True(double.IsNaN(m.PerClass[2].Precision)); // never predicted: 0/0
        Assert.True(double.IsNaN(m.PerClass[2].Fscore));
        Assert.Equal(0.65, m.MFscore, 12); // (0.5 + 0.8) / 2
        Assert.Equal(0.4, m.FWIoU, 12);    // 2/5·1/3 + 2/5·2/3 + 1/5·0
    }

    [Fact]
    public void Absent_and_predicted_but_absent_classes_follow_mmsegmentation()
    {
        // 4 classes; class 2 appears nowhere, class 3 is predicted once but never present.
        var cm = Cm(4, [0, 0, 1, 1], [0, 3, 1, 1]);
        var m = SegmentationMetrics.Compute(cm);
        Assert.Equal(0.5, m.PerClass[0].IoU, 12);
        Assert.True(double.IsNaN(m.PerClass[2].IoU));
        Assert.Equal(0, m.PerClass[3].IoU);          // counted: it pulls the mean down
        Assert.Equal(0.5, m.MIoU, 12);               // (0.5 + 1 + 0) / 3
        Assert.True(double.IsNaN(m.PerClass[3].Acc)); // no ground truth: left out of mAcc
        Assert.Equal(0.75, m.MAcc, 12);
        Assert.Equal(5 / 9.0, m.MDice, 12);
        Assert.Equal(5 / 6.0, m.MFscore, 12);
        Assert.Equal(0.75, m.AAcc, 12);
        Assert.Equal(0.75, m.FWIoU, 12);

        var z = SegmentationMetrics.Compute(cm, zeroDivision: 0);
        Assert.Equal(0.375, z.MIoU, 12);  // (0.5 + 1 + 0 + 0) / 4
        Assert.Equal(0.375, z.MAcc, 12);
    }

    [Fact]
    public void Reduce_zero_label_and_label_map_act_on_ground_truth_only()
    {
        var cm = Cm(2, [0, 1, 2, 255], [0, 0, 1, 1], new ConfusionOptions(2, ReduceZeroLabel: true));
        Assert.Equal(new long[] { 1, 0, 0, 1 }, cm.Counts.ToArray());
        var mapped = Cm(2, [5, 1, 0], [1, 1, 0], new ConfusionOptions(2, LabelMap: new Dictionary<int, int> { [5] = 1 }));
        Assert.Equal(new long[] { 1, 0, 0, 2 }, mapped.Counts.ToArray());
    }

    [Fact]
    public void Labels_out_of_range_are_errors_unless_ignored()
    {
        Assert.Contains("ground-truth label 3", Assert.Throws<LabelOutOfRangeException>(() => Cm(3, [3], [0])).Message);
        Assert.Contains("predicted label 7", Assert.Throws<LabelOutOfRangeException>(() => Cm(3, [1], [7])).Message);
        Assert.Equal(0, Cm(3, [255], [200]).Total); // prediction under an ignored pixel is not looked at
        var ints = new ConfusionMatrix(3);
        Assert.Throws<LabelOutOfRangeException>(() => ints.Add(new[] { 1000 }, new[] { 0 }));
        // A rejected batch leaves nothing behind: the next one counts alone.
        var cm = new ConfusionMatrix(3);
        Assert.Throws<LabelOutOfRangeException>(() => cm.Add(new byte[] { 0, 1, 2, 1 }, new byte[] { 0, 1, 9, 1 }));
        cm.Clear();
        cm.Add(new byte[] { 2 }, new byte[] { 2 });
        Assert.Equal(new long[] { 0, 0, 0, 0, 0, 0, 0, 0, 1 }, cm.Counts.ToArray());
    }

    private static (byte[] Gt, byte[] Pred) Random(int n, int classes, int seed)
    {
        var rng = new System.Random(seed);
        var gt = new byte[n];
        var pred = new byte[n];
        for (int i = 0; i < n; i++)
        {
            gt[i] = rng.Next(20) == 0 ? (byte)255 : (byte)rng.Next(classes);
            pred[i] = rng.Next(3) == 0 ? (byte)rng.Next(classes) : gt[i] == 255 ? (byte)0 : gt[i];
        }
        return (gt, pred);
    }

    [Fact]
    public void Streaming_merging_parallel_and_every_input_type_agree_with_a_plain_count()
    {
        var (gt, pred) = Random(3_000_017, 19, 5); // large enough for the multi-threaded path
        var naive = new long[19 * 19];
        for (int i = 0; i < gt.Length; i++) if (gt[i] != 255) naive[gt[i] * 19 + pred[i]]++;

        var one = Cm(19, gt, pred);
        Assert.Equal(naive, one.Counts.ToArray());

        var streamed = new ConfusionMatrix(19);
        var shardA = new ConfusionMatrix(19);
        var shardB = new ConfusionMatrix(19);
        for (int start = 0, k = 0; start < gt.Length; start += 100_003, k++)
        {
            int len = Math.Min(100_003, gt.Length - start);
            streamed.Add(gt.AsSpan(start, len), pred.AsSpan(start, len));
            (k % 2 == 0 ? shardA : shardB).Add(gt.AsSpan(start, len), pred.AsSpan(start, len));
        }
        shardA.Merge(shardB);
        Assert.Equal(naive, streamed.Counts.ToArray());
        Assert.Equal(naive, shardA.Counts.ToArray());

        var ints = new ConfusionMatrix(19);
        ints.Add(gt.Select(v => (int)v).ToArray(), pred.Select(v => (int)v).ToArray());
        Assert.Equal(naive, ints.Counts.ToArray());
        var tensors = new ConfusionMatrix(19);
        using (var g = TorchSharp.torch.tensor(gt).to(TorchSharp.torch.ScalarType.Int64))
        using (var p = TorchSharp.torch.tensor(pred))
            tensors.Add(g, p);
        Assert.Equal(naive, tensors.Counts.ToArray());

        var back = ConfusionMatrix.FromJson(one.ToJson());
        Assert.Equal(naive, back.Counts.ToArray());
        Assert.Equal(255, back.Options.IgnoreIndex);
    }

    [Fact]
    public void Label_png_reads_gray_and_palette_indices_at_every_bit_depth_and_filter()
    {
        using var dir = new TempDir();
        var rng = new System.Random(2);
        foreach (int depth in new[] { 1, 2, 4, 8 })
            foreach (int filter in new[] { 0, 1, 2, 3, 4 })
                foreach (int colorType in new[] { 0, 3 })
                {
                    int w = 13, h = 5;
                    byte[] labels = Enumerable.Range(0, w * h).Select(_ => (byte)rng.Next(1 << depth)).ToArray();
                    string path = dir.File($"l{depth}{filter}{colorType}.png");
                    File.WriteAllBytes(path, PngWriter.Indexed(w, h, labels, depth, colorType, filter));
                    LabelMap map = LabelPng.Read(path);
                    Assert.Equal((w, h), (map.Width, map.Height));
                    Assert.Equal(labels, map.Labels);
                }
        // Skia's own gray PNG reads back as the same values.
        using (var t = TorchSharp.torch.tensor(new byte[] { 0, 1, 2, 254 }).reshape(1, 2, 2)) ImageIO.SavePng(t, dir.File("skia.png"));
        Assert.Equal(new byte[] { 0, 1, 2, 254 }, LabelPng.Read(dir.File("skia.png")).Labels);
        // RGB is refused.
        using (var t = TorchSharp.torch.zeros(3, 2, 2, dtype: TorchSharp.torch.ScalarType.Byte)) ImageIO.SavePng(t, dir.File("rgb.png"));
        Assert.Contains("RGB", Assert.Throws<TesseraFormatException>(() => LabelPng.Read(dir.File("rgb.png"))).Message);
        File.WriteAllText(dir.File("x.png"), "nope");
        Assert.Contains("not a PNG", Assert.Throws<TesseraFormatException>(() => LabelPng.Read(dir.File("x.png"))).Message);
    }
}

/// <summary>Tolerance comparer for sequences of doubles.</summary>
internal sealed class Tol : IEqualityComparer<double>
{
    public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-12 || (double.IsNaN(a) && double.IsNaN(b));
    public int GetHashCode(double obj) => 0;
}

/// <summary>A minimal PNG writer for tests (PNG specification: IHDR, PLTE, IDAT, IEND with CRC-32), gray or palette, any filter.</summary>
internal static class PngWriter
{
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        s.Write(word);
        byte[] body = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        s.Write(body);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc(body));
        s.Write(word);
    }

    public static byte[] Indexed(int w, int h, byte[] values, int depth, int colorType, int filter)
    {
        int stride = (w * depth + 7) / 8;
        var rows = new byte[h][];
        for (int y = 0; y < h; y++)
        {
            rows[y] = new byte[stride];
            for (int x = 0; x < w; x++)
            {
                int bit = x * depth;
                rows[y][bit / 8] |= (byte)(values[y * w + x] << (8 - depth - bit % 8));
            }
        }
        using var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            raw.WriteByte((byte)filter);
            byte[] cur = rows[y], prev = y > 0 ? rows[y - 1] : new byte[stride];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= 1 ? cur[i - 1] : 0, b = prev[i], c = i >= 1 ? prev[i - 1] : 0;
                int pred = filter switch
                {
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => 0,
                };
                raw.WriteByte((byte)(cur[i] - pred));
            }
        }
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)h);
        ihdr[8] = (byte)depth;
        ihdr[9] = (byte)colorType;
        Chunk(png, "IHDR", ihdr);
        if (colorType == 3) Chunk(png, "PLTE", Enumerable.Range(0, 3 << depth).Select(i => (byte)(i * 37)).ToArray());
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw.ToArray());
        Chunk(png, "IDAT", z.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
