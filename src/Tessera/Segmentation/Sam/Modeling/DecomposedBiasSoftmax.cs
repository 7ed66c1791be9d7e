using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// The attention weights of SAM's ViT with its decomposed relative position terms, in one pass over the logits:
/// softmax over the keys (i', j') of z[q, i'·W + j'] + relH[q, i'] + relW[q, j'] (MViTv2 eq. 4), written over z in
/// place. libtorch needs the two terms added to the logits (or a bias tensor the size of the logits built from them)
/// before its softmax; here each row of logits is read once into a float32 row in cache, the terms are added there,
/// and the softmax is taken in float32 and rounded once into the logits' type.
/// </summary>
/// <remarks>
/// Runs where <see cref="SoftmaxRows"/> does (AVX-512, libtorch's OpenMP team, float32 or bfloat16 logits on the CPU);
/// <see cref="Supported"/> says when, and the caller keeps libtorch's path otherwise.
/// </remarks>
internal static unsafe class DecomposedBiasSoftmax
{
    private struct Job
    {
        public void* Logits;
        public float* TermH, TermW;
        public int Rows, H, W, BFloat16;
    }

    /// <summary>Whether logits of this type, device and key grid can be taken here.</summary>
    public static bool Supported(torch.Tensor logits, int keyHeight, int keyWidth) => SoftmaxRows.Runs(logits, keyHeight * keyWidth);

    /// <summary>
    /// Replaces <paramref name="logits"/> [rows, H·W] (contiguous) with softmax(logits + termH[:, i'] + termW[:, j'])
    /// over each row; <paramref name="termH"/> [rows, H] and <paramref name="termW"/> [rows, W] are float32.
    /// </summary>
    public static void ApplyInPlace(torch.Tensor logits, torch.Tensor termH, torch.Tensor termW, int keyHeight, int keyWidth)
    {
        if (!Supported(logits, keyHeight, keyWidth)) throw new InvalidOperationException("DecomposedBiasSoftmax: unsupported logits");
        long rows = logits.shape[0];
        if (!logits.is_contiguous() || logits.shape[1] != (long)keyHeight * keyWidth
            || termH.dtype != torch.ScalarType.Float32 || termW.dtype != torch.ScalarType.Float32
            || !termH.is_contiguous() || !termW.is_contiguous()
            || termH.shape[0] != rows || termH.shape[1] != keyHeight || termW.shape[0] != rows || termW.shape[1] != keyWidth)
            throw new ArgumentException("DecomposedBiasSoftmax: logits [rows, H·W] and float32 terms [rows, H], [rows, W], contiguous");
        var job = new Job
        {
            Logits = (void*)TensorMemory.Pointer(logits),
            TermH = (float*)TensorMemory.Pointer(termH),
            TermW = (float*)TensorMemory.Pointer(termW),
            Rows = checked((int)rows),
            H = keyHeight,
            W = keyWidth,
            BFloat16 = logits.dtype == torch.ScalarType.BFloat16 ? 1 : 0,
        };
        int threads = (int)Math.Min(torch.get_num_threads(), rows);
        OpenMpTeam.Run(&Body, (IntPtr)(&job), threads);
        GC.KeepAlive(logits);
        GC.KeepAlive(termH);
        GC.KeepAlive(termW);
    }

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Body(IntPtr state)
    {
        var job = (Job*)state;
        var (start, end) = OpenMpTeam.ShareOf(job->Rows);
        int h = job->H, w = job->W, keys = h * w, vectors = keys / 16 * 16;
        float* row = stackalloc float[keys];
        // Key grids whose rows are not whole vectors (windows of 14, the tiny models' 3 and 8) gather each key's two
        // terms through its (i', j') index.
        int* ia = stackalloc int[w % 16 == 0 ? 0 : vectors], ib = stackalloc int[w % 16 == 0 ? 0 : vectors];
        if (w % 16 != 0)
            for (int k = 0; k < vectors; k++) (ia[k], ib[k]) = (k / w, k % w);
        for (int r = start; r < end; r++)
        {
            float* th = job->TermH + (long)r * h, tw = job->TermW + (long)r * w;
            if (job->BFloat16 != 0) SoftmaxRows.Widen((ushort*)job->Logits + (long)r * keys, row, keys);
            else Buffer.MemoryCopy((float*)job->Logits + (long)r * keys, row, keys * sizeof(float), keys * sizeof(float));
            float max = w % 16 == 0 ? AddTerms(row, th, tw, h, w) : AddTerms(row, th, tw, h, w, keys, vectors, ia, ib);
            float inv = 1f / SoftmaxRows.Exponentiate(row, keys, max);
            if (job->BFloat16 != 0) SoftmaxRows.Narrow(row, inv, (ushort*)job->Logits + (long)r * keys, keys);
            else SoftmaxRows.Scale(row, inv, (float*)job->Logits + (long)r * keys, keys);
        }
    }

    // row[i'·W + j'] += termH[i'] + termW[j'] for W a multiple of 16; returns the row's largest value.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float AddTerms(float* row, float* th, float* tw, int h, int w)
    {
        var max = Vector512.Create(float.NegativeInfinity);
        for (int a = 0; a < h; a++)
        {
            var ta = Vector512.Create(th[a]);
            for (int b = 0; b < w; b += 16)
            {
                var x = Vector512.Load(row + a * w + b) + ta + Vector512.Load(tw + b);
                x.Store(row + a * w + b);
                max = Vector512.Max(max, x);
            }
        }
        return SoftmaxRows.HorizontalMax(max);
    }

    // The same for any W: with at most 16 rows and columns (windows), the first `vectors` keys 16 at a time, each
    // key's terms picked from one register by its (i', j') index; the rest, and larger grids, one by one.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float AddTerms(float* row, float* th, float* tw, int h, int w, int keys, int vectors, int* ia, int* ib)
    {
        float m = float.NegativeInfinity;
        int k = 0;
        if (h <= 16 && w <= 16 && vectors > 0)
        {
            float* terms = stackalloc float[32];
            for (int i = 0; i < 16; i++) (terms[i], terms[16 + i]) = (i < h ? th[i] : 0f, i < w ? tw[i] : 0f);
            Vector512<float> vh = Vector512.Load(terms), vw = Vector512.Load(terms + 16);
            var max = Vector512.Create(float.NegativeInfinity);
            for (; k < vectors; k += 16)
            {
                var x = Vector512.Load(row + k)
                    + Avx512F.PermuteVar16x32(vh, Vector512.Load(ia + k))
                    + Avx512F.PermuteVar16x32(vw, Vector512.Load(ib + k));
                x.Store(row + k);
                max = Vector512.Max(max, x);
            }
            m = SoftmaxRows.HorizontalMax(max);
        }
        for (; k < keys; k++)
        {
            row[k] += th[k / w] + tw[k % w];
            m = MathF.Max(m, row[k]);
        }
        return m;
    }
}
