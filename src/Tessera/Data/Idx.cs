using System.Buffers.Binary;

namespace Tessera.Data;

/// <summary>Element types of the IDX format (the third byte of the magic number).</summary>
public enum IdxType : byte
{
    /// <summary>unsigned byte</summary>
    UInt8 = 0x08,
    /// <summary>signed byte</summary>
    Int8 = 0x09,
    /// <summary>big-endian 16-bit integer</summary>
    Int16 = 0x0B,
    /// <summary>big-endian 32-bit integer</summary>
    Int32 = 0x0C,
    /// <summary>big-endian IEEE float</summary>
    Float32 = 0x0D,
    /// <summary>big-endian IEEE double</summary>
    Float64 = 0x0E,
}

/// <summary>An array read from an IDX file: its shape, element type and the elements in host (little-endian) order.</summary>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Type">Element type.</param>
/// <param name="Data">Elements, C order, converted to little-endian.</param>
public sealed record IdxArray(long[] Shape, IdxType Type, byte[] Data)
{
    /// <summary>Number of elements.</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Copies the array into a tensor of the matching dtype on <paramref name="device"/>.</summary>
    public torch.Tensor ToTensor(torch.Device? device = null)
    {
        torch.ScalarType dtype = Type switch
        {
            IdxType.UInt8 => torch.ScalarType.Byte,
            IdxType.Int8 => torch.ScalarType.Int8,
            IdxType.Int16 => torch.ScalarType.Int16,
            IdxType.Int32 => torch.ScalarType.Int32,
            IdxType.Float32 => torch.ScalarType.Float32,
            _ => torch.ScalarType.Float64,
        };
        var t = torch.empty(Shape, dtype);
        Data.AsSpan().CopyTo(t.bytes);
        return device is null || device.type == DeviceType.CPU ? t : t.to(device);
    }
}

/// <summary>
/// Reads and writes IDX files (the MNIST format): a 4-byte magic 0x0000TTDD (T = type, D = number of
/// dimensions), D big-endian 32-bit sizes, then the elements in big-endian C order. Gzip-compressed
/// files are recognised by their own magic bytes, whatever their name.
/// </summary>
public static class Idx
{
    /// <summary>Size in bytes of one element of <paramref name="type"/>.</summary>
    public static int ElementSize(IdxType type) => type switch
    {
        IdxType.UInt8 or IdxType.Int8 => 1,
        IdxType.Int16 => 2,
        IdxType.Int32 or IdxType.Float32 => 4,
        IdxType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Reads an IDX file (plain or gzip).</summary>
    /// <exception cref="TesseraFormatException">Missing, truncated, or not an IDX file.</exception>
    public static IdxArray Read(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        using var file = File.OpenRead(path);
        return Read(file, path);
    }

    /// <summary>Reads an IDX array from a stream (plain or gzip); <paramref name="name"/> names it in errors.</summary>
    public static IdxArray Read(Stream stream, string name)
    {
        try
        {
            using var input = OpenMaybeGzip(stream);
            Span<byte> magic = stackalloc byte[4];
            if (ReadFully(input, magic) < 4) throw new TesseraFormatException(name, "truncated IDX file: fewer than 4 bytes of header");
            if (magic[0] != 0 || magic[1] != 0)
                throw new TesseraFormatException(name, $"not an IDX file: magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(magic):X8} does not start with two zero bytes");
            var type = (IdxType)magic[2];
            if (!Enum.IsDefined(type))
                throw new TesseraFormatException(name, $"not an IDX file: unknown element type 0x{magic[2]:X2} in the magic number");
            int rank = magic[3];
            if (rank == 0) throw new TesseraFormatException(name, "IDX header declares zero dimensions");

            byte[] dims = new byte[4 * rank];
            if (ReadFully(input, dims) < dims.Length)
                throw new TesseraFormatException(name, $"truncated IDX file: header declares {rank} dimensions but ends early");
            var shape = new long[rank];
            for (int i = 0; i < rank; i++) shape[i] = BinaryPrimitives.ReadUInt32BigEndian(dims.AsSpan(4 * i));
            int size = ElementSize(type);
            // Sizes in double first: a product of up to 255 declared 32-bit dimensions overflows a long.
            double declared = shape.Aggregate((double)size, (a, d) => a * d);
            if (declared > Array.MaxLength)
                throw new TesseraFormatException(name, $"IDX header declares shape [{string.Join(", ", shape)}], {declared:G3} bytes: too large to load");
            long bytes = shape.Aggregate((long)size, (a, d) => a * d);
            // A plain file says how much data follows; reject a short one before allocating what its header claims.
            if (input.CanSeek && input.Length - input.Position < bytes)
                throw new TesseraFormatException(name, $"truncated IDX file: shape [{string.Join(", ", shape)}] needs {bytes} data bytes, found {input.Length - input.Position}");
            byte[] data = ReadUpTo(input, bytes, out long got);
            if (got < bytes)
                throw new TesseraFormatException(name, $"truncated IDX file: shape [{string.Join(", ", shape)}] needs {bytes} data bytes, found {got}");
            if (input.ReadByte() != -1)
                throw new TesseraFormatException(name, $"IDX file has bytes after the {bytes} data bytes that shape [{string.Join(", ", shape)}] declares");
            if (size > 1 && BitConverter.IsLittleEndian) SwapInPlace(data, size);
            return new IdxArray(shape, type, data);
        }
        catch (Exception e) when (e is InvalidDataException or IOException) // zlib errors are IOExceptions (ZLibException is internal)
        {
            throw new TesseraFormatException(name, $"corrupt gzip stream ({e.Message})", e);
        }
    }

    /// <summary>Writes an IDX file; gzip-compressed when <paramref name="gzip"/> is true. The write is atomic.</summary>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        IO.AtomicFile.Write(path, stream =>
        {
            if (!gzip) { Write(stream, array); return; }
            using var output = new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true);
            Write(output, array);
        });
    }

    /// <summary>Writes an IDX array to a stream (uncompressed).</summary>
    public static void Write(Stream output, IdxArray array)
    {
        if (array.Shape.Length is 0 or > 255) throw new TesseraUserException(nameof(array), "IDX arrays have 1 to 255 dimensions");
        Span<byte> word = stackalloc byte[4];
        word[0] = 0; word[1] = 0; word[2] = (byte)array.Type; word[3] = (byte)array.Shape.Length;
        output.Write(word);
        foreach (long d in array.Shape)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, checked((uint)d));
            output.Write(word);
        }
        int size = ElementSize(array.Type);
        if (size == 1 || !BitConverter.IsLittleEndian) { output.Write(array.Data); return; }
        byte[] swapped = (byte[])array.Data.Clone();
        SwapInPlace(swapped, size);
        output.Write(swapped);
    }

    private static Stream OpenMaybeGzip(Stream stream)
    {
        if (stream.CanSeek)
        {
            long start = stream.Position;
            int m0 = stream.ReadByte(), m1 = stream.ReadByte();
            stream.Position = start;
            return m0 == 0x1f && m1 == 0x8b ? new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true) : stream;
        }
        var buffered = new BufferedStream(stream, 1 << 16);
        int b0 = buffered.ReadByte();
        int b1 = buffered.ReadByte();
        var head = new List<byte>();
        if (b0 >= 0) head.Add((byte)b0);
        if (b1 >= 0) head.Add((byte)b1);
        Stream rest = new PrefixedStream(head.ToArray(), buffered);
        return b0 == 0x1f && b1 == 0x8b ? new GZipStream(rest, CompressionMode.Decompress) : rest;
    }

    /// <summary>Reads up to <paramref name="bytes"/> bytes into an array that grows with the data actually delivered (a gzip
    /// stream does not say its length), so a header's claim costs memory only as far as the data backs it.</summary>
    private static byte[] ReadUpTo(Stream s, long bytes, out long got)
    {
        var data = new byte[Math.Min(bytes, 1 << 20)];
        got = 0;
        while (got < bytes)
        {
            if (got == data.Length) Array.Resize(ref data, (int)Math.Min(bytes, 2L * data.Length));
            int n = s.Read(data, (int)got, (int)(data.Length - got));
            if (n == 0) break;
            got += n;
        }
        return data;
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static void SwapInPlace(byte[] data, int size)
    {
        var span = data.AsSpan();
        for (int i = 0; i + size <= span.Length; i += size) span.Slice(i, size).Reverse();
    }

    /// <summary>A read-only stream that yields a few already-read bytes before the rest of another stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_pos < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _pos);
                prefix.AsSpan(_pos, n).CopyTo(buffer);
                _pos += n;
                return n;
            }
            return inner.Read(buffer);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
