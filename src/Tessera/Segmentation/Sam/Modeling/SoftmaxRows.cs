using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Row primitives of the fused attention softmaxes (<see cref="DecomposedBiasSoftmax"/>, <see cref="WindowBiasSoftmax"/>):
/// a row of logits widened into float32, exponentiated after its maximum, normalised and rounded back, 16 lanes at a
/// time with AVX-512 and the tail one by one. The loops are compiled fully optimised at first use
/// (AggressiveOptimization), not through .NET's unoptimised first tier.
/// </summary>
internal static unsafe class SoftmaxRows
{
    /// <summary>Longest key row the kernels take: its float32 copy lives on the thread's stack.</summary>
    public const int MaxKeys = 16384;

    /// <summary>
    /// Whether the kernels run for these logits: AVX-512 (F and BW), libtorch's OpenMP runtime found, float32 or bfloat16
    /// logits on the CPU, at most <see cref="MaxKeys"/> keys per row.
    /// </summary>
    public static bool Runs(torch.Tensor logits, int keys) =>
        Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available
        && logits.device_type == DeviceType.CPU
        && logits.dtype is torch.ScalarType.Float32 or torch.ScalarType.BFloat16
        && keys <= MaxKeys;

    // row ← exp(row − max); returns the sum.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Exponentiate(float* row, int keys, float max)
    {
        var m = Vector512.Create(max);
        var sum = Vector512<float>.Zero;
        int k = 0;
        for (; k + 16 <= keys; k += 16)
        {
            var e = Exp(Vector512.Load(row + k) - m);
            e.Store(row + k);
            sum += e;
        }
        float total = Vector512.Sum(sum);
        for (; k < keys; k++)
        {
            row[k] = MathF.Exp(row[k] - max);
            total += row[k];
        }
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Widen(ushort* source, float* row, int keys)
    {
        int k = 0;
        for (; k + 16 <= keys; k += 16) BFloat16Vector.Load(source + k).Store(row + k);
        for (; k < keys; k++) row[k] = BitConverter.UInt32BitsToSingle((uint)source[k] << 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Narrow(float* row, float scale, ushort* destination, int keys)
    {
        var s = Vector512.Create(scale);
        int k = 0;
        for (; k + 16 <= keys; k += 16) BFloat16Vector.Store(Vector512.Load(row + k) * s, destination + k);
        for (; k < keys; k++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(row[k] * scale);
            destination[k] = (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(float* row, float scale, float* destination, int keys)
    {
        var s = Vector512.Create(scale);
        int k = 0;
        for (; k + 16 <= keys; k += 16) (Vector512.Load(row + k) * s).Store(destination + k);
        for (; k < keys; k++) destination[k] = row[k] * scale;
    }

    // exp(x) for x ≤ 0: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact n·ln2), exp(r) by its Taylor
    // polynomial to r⁶/720 (relative error under 2e-7), times 2ⁿ built in the exponent bits. Below −87 the result is
    // taken at −87 (about 1.6e-38, nothing once divided by a sum of at least 1).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(-87f));
        var n = Avx512F.RoundScale(x * Vector512.Create(1.44269504f), 0x08);
        var r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1f / 720);
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512<float>.One);
        var scale = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(n) + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector512<float> v)
    {
        var a = Vector256.Max(v.GetLower(), v.GetUpper());
        var b = Vector128.Max(a.GetLower(), a.GetUpper());
        return MathF.Max(MathF.Max(b[0], b[1]), MathF.Max(b[2], b[3]));
    }
}
