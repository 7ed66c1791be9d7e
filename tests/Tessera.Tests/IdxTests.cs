using System.IO.Compression;
using Tessera.Data;

namespace Tessera.Tests;

public class IdxTests
{
    // magic 0x00000803 (uint8, 3 dims), dims 2, 2, 3, then bytes 0..11 — the MNIST image layout.
    private static byte[] UInt8Bytes() =>
        [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    [Fact]
    public void Reads_hand_built_uint8_file_plain_and_gzip()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("a-idx3-ubyte"), UInt8Bytes());
        File.WriteAllBytes(dir.File("a-idx3-ubyte.gz"), Gzip(UInt8Bytes()));
        foreach (string name in new[] { "a-idx3-ubyte", "a-idx3-ubyte.gz" })
        {
            IdxArray a = Idx.Read(dir.File(name));
            Assert.Equal(new long[] { 2, 2, 3 }, a.Shape);
            Assert.Equal(IdxType.UInt8, a.Type);
            Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i).ToArray(), a.Data);
            using var t = a.ToTensor();
            Assert.Equal(11, t[1, 1, 2].item<byte>());
        }
    }

    [Fact]
    public void Reads_big_endian_int32_and_float32()
    {
        using var dir = new TempDir();
        // int32: one dimension of 2: 0x01020304 and -2 (0xFFFFFFFE)
        File.WriteAllBytes(dir.File("i"), [0, 0, 0x0C, 1, 0, 0, 0, 2, 1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFE]);
        using (var t = Idx.Read(dir.File("i")).ToTensor())
            Assert.Equal(new[] { 0x01020304, -2 }, t.data<int>().ToArray());
        // float32 1.5 = 0x3FC00000, -2.0 = 0xC0000000
        File.WriteAllBytes(dir.File("f"), [0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0]);
        using (var t = Idx.Read(dir.File("f")).ToTensor())
            Assert.Equal(new[] { 1.5f, -2f }, t.data<float>().ToArray());
    }

    [Fact]
    public void Write_then_read_is_identity_and_writes_big_endian()
    {
        using var dir = new TempDir();
        var data = new byte[8];
        BitConverter.TryWriteBytes(data.AsSpan(0), 1.0);
        var a = new IdxArray([1], IdxType.Float64, data);
        Idx.Write(dir.File("d.gz"), a, gzip: true);
        Idx.Write(dir.File("d"), a);
        Assert.Equal(new byte[] { 0, 0, 0x0E, 1, 0, 0, 0, 1, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0 }, File.ReadAllBytes(dir.File("d")));
        Assert.Equal(data, Idx.Read(dir.File("d.gz")).Data);
    }

    [Fact]
    public void Truncated_file_names_the_file_and_the_shortfall()
    {
        using var dir = new TempDir();
        byte[] bytes = UInt8Bytes()[..^3];
        File.WriteAllBytes(dir.File("t.gz"), Gzip(bytes));
        var e = Assert.Throws<TesseraFormatException>(() => Idx.Read(dir.File("t.gz")));
        Assert.Contains("t.gz", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("needs 12 data bytes, found 9", e.Message);

        File.WriteAllBytes(dir.File("h"), [0, 0, 8, 3, 0, 0]);
        Assert.Contains("truncated", Assert.Throws<TesseraFormatException>(() => Idx.Read(dir.File("h"))).Message);
    }

    [Fact]
    public void Wrong_magic_and_unknown_type_are_rejected()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("m"), [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        var e = Assert.Throws<TesseraFormatException>(() => Idx.Read(dir.File("m")));
        Assert.Contains("magic number 0x12345678", e.Message);
        File.WriteAllBytes(dir.File("u"), [0, 0, 0x07, 1, 0, 0, 0, 1, 5]);
        Assert.Contains("unknown element type 0x07", Assert.Throws<TesseraFormatException>(() => Idx.Read(dir.File("u"))).Message);
        File.WriteAllBytes(dir.File("x"), [.. UInt8Bytes(), 99]);
        Assert.Contains("bytes after", Assert.Throws<TesseraFormatException>(() => Idx.Read(dir.File("x"))).Message);
    }

    [Fact]
    public void Embedded_subset_has_2000_train_and_500_test_images_of_all_classes()
    {
        var source = new FashionMnistSource(DataSourceKind.Embedded, null);
        using var train = FashionMnist.Load(Split.Train, source);
        using var test = FashionMnist.Load(Split.Test, source);
        Assert.Equal(2000, train.Count);
        Assert.Equal(500, test.Count);
        Assert.Equal(new long[] { 2000, 28, 28 }, train.Images.shape);
        using var counts = torch.bincount(train.Labels, minlength: 10);
        Assert.All(counts.data<long>().ToArray(), c => Assert.InRange(c, 150, 250));
        // The first training image of Fashion-MNIST is an ankle boot (label 9).
        Assert.Equal(9, train.Labels[0].item<long>());
    }

    [Fact]
    public void Data_folder_without_the_files_is_a_user_error()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TesseraUserException>(() => FashionMnist.Locate(dir.Path));
        Assert.Contains("train-images-idx3-ubyte", e.Message);
        Assert.Throws<TesseraUserException>(() => FashionMnist.Locate(dir.File("nope")));
    }
}
