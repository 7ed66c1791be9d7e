using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tessera.Runtime;

namespace Tessera.Layers;

/// <summary>
/// The exact (erf) GELU of an inference activation, in place, on an AVX-512 CPU: GELU(x) = x·Φ(x) = ½·x·(1 + erf(x/√2))
/// (Hendrycks and Gimpel 2016, "Gaussian Error Linear Units", §2), what <c>torch.nn.functional.gelu</c> computes with
/// <c>approximate='none'</c>. libtorch evaluates erf with an exponential (about 30 cycles per 16 floats here, so its GELU is
/// bound by arithmetic, not memory: 4.3 ms for a 64 MiB map at two threads); here erf is a rational function without
/// one, in float32 or on bfloat16 widened to float32 and rounded once, on libtorch's OpenMP team.
/// </summary>
/// <remarks>
/// erf(u) ≈ u·P(u²)/Q(u²) on u clamped to [−4, 4] (erf(4) rounds to 1 in float32), with P of degree 6 and Q of degree 4
/// in u²: the rational approximation Eigen and XLA use for float32 erf (its error in exact arithmetic 6.5e-8; evaluated
/// in float32 within 3.4e-7 of erf, against libtorch's 3.8e-7 for its float32 GELU). The caller keeps libtorch's
/// <c>gelu</c> where <see cref="Runs"/> is false: autograd, another device or type, a non-contiguous tensor, no
/// AVX-512.
/// </remarks>
internal static unsafe class ErfGelu
{
    // Below this many elements the call stays on the calling thread (the team's start costs more than it saves).
    private const long SerialBelow = 1 << 15;

    private struct Job
    {
        public void* Data;
        public float* Bias;
        public long Count, Channels;
        public int BFloat16;
    }

    /// <summary>Whether <paramref name="x"/> is taken here: a dense (contiguous or channels-last) float32 or bfloat16 CPU tensor outside autograd, an AVX-512 CPU, libtorch's OpenMP runtime found.</summary>
    public static bool Runs(torch.Tensor x) =>
        Avx512F.IsSupported && Avx512BW.IsSupported && OpenMpTeam.Available
        && x.device_type == DeviceType.CPU && !x.requires_grad
        && x.dtype is torch.ScalarType.Float32 or torch.ScalarType.BFloat16
        && TensorMemory.IsDense(x);

    /// <summary>GELU of a fresh activation: in place where <see cref="Runs"/> (here) or where no gradient is needed (libtorch's <c>gelu_</c>), libtorch's out-of-place <c>gelu</c> under autograd.</summary>
    public static torch.Tensor Activation(torch.Tensor x) => x.requires_grad ? x.gelu() : InPlace(x);

    /// <summary>x ← GELU(x); libtorch's <c>gelu_</c> where <see cref="Runs"/> is false. Returns <paramref name="x"/>.</summary>
    public static torch.Tensor InPlace(torch.Tensor x)
    {
        if (!Runs(x)) return x.gelu_();
        Launch(x, null);
        return x;
    }

    /// <summary>
    /// x ← GELU(x + b), the bias <paramref name="bias"/> [C] broadcast along axis <paramref name="channelAxis"/> (negative from
    /// the end) of <paramref name="x"/>: a linear layer's or a 1 × 1 convolution's bias taken in the activation's pass
    /// instead of a pass of its own (libtorch's <c>addmm</c> copies the bias into the output before the product). Here
    /// where <see cref="Runs"/>, the channel axis is the innermost in memory and C is a multiple of 16; otherwise
    /// libtorch's <c>add_</c>, then <see cref="InPlace(torch.Tensor)"/>.
    /// </summary>
    public static torch.Tensor InPlace(torch.Tensor x, torch.Tensor bias, int channelAxis)
    {
        int dims = (int)x.dim(), axis = channelAxis < 0 ? channelAxis + dims : channelAxis;
        long channels = x.shape[axis];
        if (bias.numel() != channels) throw new ArgumentException($"ErfGelu: a bias of {channels} values expected, got {bias.numel()}", nameof(bias));
        if (!Runs(x) || !TensorMemory.IsDense(x, axis) || channels % 16 != 0 || bias.dtype != x.dtype
            || bias.device_type != DeviceType.CPU || bias.requires_grad)
        {
            var shape = Enumerable.Repeat(1L, dims).ToArray();
            shape[axis] = channels;
            return InPlace(x.add_(bias.reshape(shape)));
        }
        using var wide = bias.to(torch.ScalarType.Float32).contiguous();
        Launch(x, wide);
        return x;
    }

    private static void Launch(torch.Tensor x, torch.Tensor? bias)
    {
        var job = new Job
        {
            Data = (void*)TensorMemory.DensePointer(x),
            Bias = bias is null ? null : (float*)TensorMemory.Pointer(bias),
            Count = x.numel(),
            Channels = bias?.numel() ?? 0,
            BFloat16 = x.dtype == torch.ScalarType.BFloat16 ? 1 : 0,
        };
        if (job.Count == 0) return;
        int threads = job.Count < SerialBelow ? 1 : Math.Max(1, torch.get_num_threads());
        OpenMpTeam.Run(&Body, (IntPtr)(&job), threads);
        GC.KeepAlive(x);
        GC.KeepAlive(bias);
    }

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Body(IntPtr state)
    {
        var job = (Job*)state;
        // Whole vectors to each thread, the tail (under 16) to the last; with a bias every vector lies in one row of
        // channels (C a multiple of 16), its channels from c on.
        long vectors = (job->Count + 15) / 16, team = OpenMpTeam.TeamSize, id = OpenMpTeam.ThreadNumber;
        long per = (vectors + team - 1) / team;
        long start = Math.Min(job->Count, id * per * 16), end = Math.Min(job->Count, (id + 1) * per * 16);
        long whole = start + (end - start) / 16 * 16;
        float* bias = job->Bias;
        long channels = job->Channels, c = channels > 0 ? start % channels : 0;
        if (job->BFloat16 != 0)
        {
            var data = (ushort*)job->Data;
            if (bias != null)
            {
                for (long i = start; i < whole; i += 16)
                {
                    BFloat16Vector.Store(Gelu(BFloat16Vector.Load(data + i) + Vector512.Load(bias + c)), data + i);
                    if ((c += 16) == channels) c = 0;
                }
            }
            else
            {
                for (long i = start; i < whole; i += 16) BFloat16Vector.Store(Gelu(BFloat16Vector.Load(data + i)), data + i);
            }
            if (whole < end)
            {
                ushort* tail = stackalloc ushort[16];
                for (long i = whole; i < end; i++) tail[i - whole] = data[i];
                BFloat16Vector.Store(Gelu(BFloat16Vector.Load(tail)), tail);
                for (long i = whole; i < end; i++) data[i] = tail[i - whole];
            }
        }
        else
        {
            var data = (float*)job->Data;
            if (bias != null)
            {
                for (long i = start; i < whole; i += 16)
                {
                    Gelu(Vector512.Load(data + i) + Vector512.Load(bias + c)).Store(data + i);
                    if ((c += 16) == channels) c = 0;
                }
            }
            else
            {
                for (long i = start; i < whole; i += 16) Gelu(Vector512.Load(data + i)).Store(data + i);
            }
            if (whole < end)
            {
                float* tail = stackalloc float[16];
                for (long i = whole; i < end; i++) tail[i - whole] = data[i];
                Gelu(Vector512.Load(tail)).Store(tail);
                for (long i = whole; i < end; i++) data[i] = tail[i - whole];
            }
        }
    }

    /// <summary>½·x·(1 + erf(x/√2)) on sixteen floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Gelu(Vector512<float> x)
    {
        var u = x * Vector512.Create(0.70710678118654752f);
        u = Vector512.Min(Vector512.Max(u, Vector512.Create(-4f)), Vector512.Create(4f));
        var u2 = u * u;
        // erf(u) ≈ u·(α₁ + α₃u² + … + α₁₃u¹²) / (β₀ + β₂u² + … + β₈u⁸)
        var p = Vector512.Create(-2.72614225801306e-10f);
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(2.77068142495902e-08f));
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(-2.10102402082508e-06f));
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(-5.69250639462346e-05f));
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(-7.34990630326855e-04f));
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(-2.95459980854025e-03f));
        p = Avx512F.FusedMultiplyAdd(p, u2, Vector512.Create(-1.60960333262415e-02f));
        var q = Vector512.Create(-1.45660718464996e-05f);
        q = Avx512F.FusedMultiplyAdd(q, u2, Vector512.Create(-2.13374055278905e-04f));
        q = Avx512F.FusedMultiplyAdd(q, u2, Vector512.Create(-1.68282697438203e-03f));
        q = Avx512F.FusedMultiplyAdd(q, u2, Vector512.Create(-7.37332916720468e-03f));
        q = Avx512F.FusedMultiplyAdd(q, u2, Vector512.Create(-1.42647390514189e-02f));
        var erf = p * u / q;
        var half = x * Vector512.Create(0.5f);
        return Avx512F.FusedMultiplyAdd(half, erf, half);
    }
}
