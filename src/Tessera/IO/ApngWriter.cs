using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// Writes animated PNGs (APNG 1.0, the Mozilla specification that PNG's third edition adopts) on <see cref="PngWriter"/>:
/// signature, IHDR, <c>acTL</c> (frame count, plays 0 = loop for ever), then per frame an <c>fcTL</c> (the whole canvas,
/// the frame's delay, dispose op NONE, blend op SOURCE) and its image data — frame 0 in IDAT, so it is also the still image
/// that viewers without APNG show, later frames in <c>fdAT</c> chunks (a sequence number, then the zlib data) — and IEND.
/// fcTL and fdAT chunks share one sequence of numbers from 0. Frames are encoded one at a time: memory holds one frame.
/// </summary>
internal static class ApngWriter
{
    /// <summary>
    /// Writes <paramref name="frameCount"/> 8-bit RGB frames of <paramref name="width"/> × <paramref name="height"/>
    /// (<paramref name="frame"/> gives frame k's interleaved samples) to <paramref name="output"/>, each shown for
    /// <paramref name="delayNumerator"/>/<paramref name="delayDenominator"/> seconds.
    /// </summary>
    public static void Write(Stream output, int width, int height, int frameCount, Func<int, byte[]> frame, ushort delayNumerator, ushort delayDenominator)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameCount, 1);
        output.Write(PngWriter.Signature);
        PngWriter.WriteChunk(output, "IHDR"u8, PngWriter.Header(width, height, colorType: 2));
        var actl = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(actl, (uint)frameCount);
        PngWriter.WriteChunk(output, "acTL"u8, actl);
        uint sequence = 0;
        for (int k = 0; k < frameCount; k++)
        {
            byte[] pixels = frame(k);
            if (pixels.Length != width * height * 3) throw new ArgumentException($"frame {k}: expected {width * height * 3} samples, got {pixels.Length}", nameof(frame));
            PngWriter.WriteChunk(output, "fcTL"u8, FrameControl(sequence++, width, height, delayNumerator, delayDenominator));
            byte[] data = PngWriter.ImageData(pixels, width, height, 3, adaptive: true, CompressionLevel.Optimal);
            if (k == 0)
            {
                PngWriter.WriteChunk(output, "IDAT"u8, data);
                continue;
            }
            var fdat = new byte[4 + data.Length];
            BinaryPrimitives.WriteUInt32BigEndian(fdat, sequence++);
            data.CopyTo(fdat, 4);
            PngWriter.WriteChunk(output, "fdAT"u8, fdat);
        }
        PngWriter.WriteChunk(output, "IEND"u8, []);
    }

    // fcTL: sequence, width, height, x offset, y offset (u32 each), delay numerator, denominator (u16), dispose op, blend op (u8)
    private static byte[] FrameControl(uint sequence, int width, int height, ushort delayNumerator, ushort delayDenominator)
    {
        var fctl = new byte[26];
        BinaryPrimitives.WriteUInt32BigEndian(fctl, sequence);
        BinaryPrimitives.WriteUInt32BigEndian(fctl.AsSpan(4), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(fctl.AsSpan(8), (uint)height);
        BinaryPrimitives.WriteUInt16BigEndian(fctl.AsSpan(20), delayNumerator);
        BinaryPrimitives.WriteUInt16BigEndian(fctl.AsSpan(22), delayDenominator);
        return fctl; // offsets 0, dispose op 0 (NONE), blend op 0 (SOURCE)
    }
}
