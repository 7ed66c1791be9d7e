using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's attention weights in one pass over the logits: softmax(z·scale + ab[head]) over each row, where ab is
/// the learned bias of every (query, key) offset in the window, gathered per head ([heads, N, N]; LeViT / TinyViT's
/// attention bias), written over z in place. libtorch takes a pass for the scale, one for the bias and its softmax;
/// here each row is read once into a float32 row in cache, scaled, biased, normalised and rounded once into the
/// logits' type.
/// </summary>
/// <remarks>
/// Runs where <see cref="SoftmaxRows"/> does (AVX-512, libtorch's OpenMP team, float32 or bfloat16 logits on the CPU);
/// the caller keeps libtorch's path where <see cref="Supported"/> is false.
/// </remarks>
internal static unsafe class WindowBiasSoftmax
{
    private struct Job
    {
        public void* Logits;
        public float* Bias;
        public int Rows, Keys, Heads, BFloat16;
        public float Scale;
    }

    /// <summary>Whether logits of this type, device and key count can be taken here.</summary>
    public static bool Supported(torch.Tensor logits, int keys) => SoftmaxRows.Runs(logits, keys);

    /// <summary>
    /// Replaces <paramref name="logits"/> [B, heads, N, N] (contiguous) with softmax(logits·scale + bias[head]) over the
    /// last axis; <paramref name="bias"/> is float32 [heads, N, N].
    /// </summary>
    public static void ApplyInPlace(torch.Tensor logits, torch.Tensor bias, double scale)
    {
        if (logits.dim() != 4 || !Supported(logits, (int)logits.shape[3])) throw new InvalidOperationException("WindowBiasSoftmax: unsupported logits");
        long heads = logits.shape[1], n = logits.shape[2];
        if (!logits.is_contiguous() || logits.shape[3] != n || bias.dtype != torch.ScalarType.Float32 || !bias.is_contiguous()
            || bias.dim() != 3 || bias.shape[0] != heads || bias.shape[1] != n || bias.shape[2] != n)
            throw new ArgumentException("WindowBiasSoftmax: logits [B, heads, N, N] and a float32 bias [heads, N, N], contiguous");
        var job = new Job
        {
            Logits = (void*)TensorMemory.Pointer(logits),
            Bias = (float*)TensorMemory.Pointer(bias),
            Rows = checked((int)(logits.shape[0] * heads * n)),
            Keys = (int)n,
            Heads = (int)heads,
            BFloat16 = logits.dtype == torch.ScalarType.BFloat16 ? 1 : 0,
            Scale = (float)scale,
        };
        int threads = (int)Math.Min(torch.get_num_threads(), job.Rows);
        OpenMpTeam.Run(&Body, (IntPtr)(&job), threads);
        GC.KeepAlive(logits);
        GC.KeepAlive(bias);
    }

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Body(IntPtr state)
    {
        var job = (Job*)state;
        var (start, end) = OpenMpTeam.ShareOf(job->Rows);
        int keys = job->Keys;
        float* row = stackalloc float[keys];
        var scale = Vector512.Create(job->Scale);
        for (int r = start; r < end; r++)
        {
            // Row r is query r mod N of head (r / N) mod heads.
            float* bias = job->Bias + ((long)(r / keys % job->Heads) * keys + r % keys) * keys;
            if (job->BFloat16 != 0) SoftmaxRows.Widen((ushort*)job->Logits + (long)r * keys, row, keys);
            else Buffer.MemoryCopy((float*)job->Logits + (long)r * keys, row, keys * sizeof(float), keys * sizeof(float));
            var max = Vector512.Create(float.NegativeInfinity);
            int k = 0;
            for (; k + 16 <= keys; k += 16)
            {
                var x = Avx512F.FusedMultiplyAdd(Vector512.Load(row + k), scale, Vector512.Load(bias + k));
                x.Store(row + k);
                max = Vector512.Max(max, x);
            }
            float m = k > 0 ? SoftmaxRows.HorizontalMax(max) : float.NegativeInfinity;
            for (; k < keys; k++)
            {
                row[k] = MathF.FusedMultiplyAdd(row[k], job->Scale, bias[k]);
                m = MathF.Max(m, row[k]);
            }
            float inv = 1f / SoftmaxRows.Exponentiate(row, keys, m);
            if (job->BFloat16 != 0) SoftmaxRows.Narrow(row, inv, (ushort*)job->Logits + (long)r * keys, keys);
            else SoftmaxRows.Scale(row, inv, (float*)job->Logits + (long)r * keys, keys);
        }
    }
}
