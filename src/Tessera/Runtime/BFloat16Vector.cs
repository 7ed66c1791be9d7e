using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Runtime;

/// <summary>
/// Sixteen bfloat16 values to and from a float32 AVX-512 vector, as libtorch converts them: widening is exact (the
/// bfloat16 bits are the float's upper half); narrowing rounds to nearest, ties to even (finite values).
/// </summary>
internal static unsafe class BFloat16Vector
{
    /// <summary>Sixteen bfloat16 values at <paramref name="source"/>, widened to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ushort* source) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(source)), 16).AsSingle();

    /// <summary><paramref name="value"/> rounded to bfloat16 (nearest, ties to even) and stored at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ushort* destination)
    {
        var bits = value.AsUInt32();
        var odd = Avx512F.ShiftRightLogical(bits, 16) & Vector512<uint>.One;
        var rounded = Avx512F.ShiftRightLogical(bits + Vector512.Create(0x7FFFu) + odd, 16);
        Avx512F.ConvertToVector256UInt16(rounded).Store(destination);
    }
}
