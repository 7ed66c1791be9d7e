using System.Text;
using static TorchSharp.torch;

namespace Tessera.Tests;

public class SafeTensorsTests
{
    /// <summary>Builds a file by the specification: u64 LE header length, JSON header padded with spaces to 8, data.</summary>
    private static byte[] SpecFile(string json, byte[] data, bool pad = true)
    {
        var header = new List<byte>(Encoding.UTF8.GetBytes(json));
        while (pad && header.Count % 8 != 0) header.Add((byte)' ');
        var file = new List<byte>(BitConverter.GetBytes((ulong)header.Count));
        file.AddRange(header);
        file.AddRange(data);
        return file.ToArray();
    }

    private static byte[] Le<T>(params T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public void Writer_produces_the_bytes_of_the_specification()
    {
        using var a = tensor(new float[] { 1f, 2f }, [2]);
        using var b = tensor(new double[] { 3.0 }, [1, 1]);
        using var c = tensor(new int[] { 7, 8, 9, 10 }, [2, 2]);
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, [new("a", a), new("c", c), new("b", b)], new Dictionary<string, string> { ["format"] = "pt" });
        // Python's safetensors orders by alignment (8-byte before 4-byte), then name; metadata comes first.
        string json = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"b\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[0,8]},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
            + "\"c\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}";
        byte[] expected = SpecFile(json, [.. Le(3.0), .. Le(1f, 2f), .. Le(7, 8, 9, 10)]);
        Assert.Equal(expected, ms.ToArray());
    }

    [Fact]
    public void Reader_accepts_a_hand_built_file_with_unpadded_header_and_any_key_order()
    {
        using var dir = new TempDir();
        string json = "{\"x\":{\"data_offsets\":[2,10],\"dtype\":\"I64\",\"shape\":[1]},\"__metadata__\":{\"k\":\"v\"},\"y\":{\"shape\":[2],\"dtype\":\"U8\",\"data_offsets\":[0,2]}}";
        File.WriteAllBytes(dir.File("h.safetensors"), SpecFile(json, [.. new byte[] { 5, 6 }, .. Le(-42L)], pad: false));
        using var f = SafeTensors.Load(dir.File("h.safetensors"));
        Assert.Equal("v", f.Metadata["k"]);
        Assert.Equal(-42L, f.Tensors["x"].item<long>());
        Assert.Equal(new byte[] { 5, 6 }, f.Tensors["y"].data<byte>().ToArray());
    }

    [Fact]
    public void Round_trip_keeps_every_dtype_bit_for_bit()
    {
        using var dir = new TempDir();
        var tensors = new Dictionary<string, Tensor>
        {
            ["f16"] = randn(3, 4).to(ScalarType.Float16),
            ["bf16"] = randn(5).to(ScalarType.BFloat16),
            ["f32"] = randn(2, 3, 4),
            ["f64"] = randn(7, dtype: ScalarType.Float64),
            ["i8"] = tensor(new sbyte[] { -1, 2 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["empty"] = zeros(0, 3),
        };
        SafeTensors.Save(dir.File("r.safetensors"), tensors);
        using var f = SafeTensors.Load(dir.File("r.safetensors"));
        foreach (var (k, v) in tensors)
        {
            Assert.Equal(v.dtype, f.Tensors[k].dtype);
            Assert.Equal(v.shape, f.Tensors[k].shape);
            Assert.True(Same.Tensors(v, f.Tensors[k]), k);
            v.Dispose();
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp")); // the atomic write left no temporary file
    }

    [Theory]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "tensor 'x': data_offsets [0, 8] reach past the data section of 4 bytes")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 trailing bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensor 'b': data_offsets start at 4, inside tensor 'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "inside tensor 'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "tensor 'b': data_offsets start at 8, expected 4")]
    [InlineData("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,6]}}", 6, "tensor 'a': shape [2, 3] of BF16 needs 12 bytes but data_offsets span 6")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes")]
    [InlineData("{\"x\":{\"dtype\":\"Q8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype 'Q8'")]
    [InlineData("{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "expected 0")]
    [InlineData("{\"x\":{\"dtype\":\"U8\",\"shape\":[2]}}", 2, "data_offsets")]
    [InlineData("[1,2]", 0, "does not start with")]
    [InlineData("{\"x\":", 0, "not valid JSON")]
    public void Malformed_files_name_the_problem(string json, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("bad.safetensors"), SpecFile(json, new byte[dataBytes]));
        var e = Assert.Throws<TesseraFormatException>(() => SafeTensors.Load(dir.File("bad.safetensors")));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Header_length_past_the_end_is_rejected()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("t.safetensors"), [.. BitConverter.GetBytes(1000UL), .. "{}"u8.ToArray()]);
        Assert.Contains("truncated", Assert.Throws<TesseraFormatException>(() => SafeTensors.Load(dir.File("t.safetensors"))).Message);
    }
}
