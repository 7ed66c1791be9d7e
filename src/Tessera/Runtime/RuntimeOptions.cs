namespace Tessera.Runtime;

/// <summary>
/// Process-wide set-up of libtorch, applied by <see cref="TorchRuntime.Configure"/>. The defaults are what the
/// <c>tessera</c> command line uses.
/// </summary>
public sealed record RuntimeOptions
{
    /// <summary>Tune glibc's heap for libtorch's tensors (<see cref="NativeHeap"/>); only the first configuration of a process can do it. Default true.</summary>
    public bool TuneHeap { get; init; } = true;

    /// <summary>Keep NNPACK on (where the CPU lacks it libtorch warns on every convolution). Default: off unless the environment variable TESSERA_NNPACK is 1.</summary>
    public bool Nnpack { get; init; } = Environment.GetEnvironmentVariable("TESSERA_NNPACK") == "1";

    /// <summary>Turn libtorch's oneDNN kernels on or off (see <see cref="OneDnn"/>); null leaves them. Default: off when the environment variable TESSERA_ONEDNN is 0, else left alone.</summary>
    public bool? OneDnn { get; init; } = Environment.GetEnvironmentVariable("TESSERA_ONEDNN") == "0" ? false : null;

    /// <summary>
    /// Send float32 matrix products to oneDNN where a check shows it multiplies in float32 on this CPU
    /// (<see cref="Float32MatmulPrecision.UseOneDnnWhereExact"/>; 1.9–2.1× MKL's rate on AMD CPUs, where MKL takes its
    /// generic path), else leave them to MKL. CPU devices only (on a GPU the same libtorch setting would allow TF32); only
    /// the first configuration of a process decides it. Default true, false when the environment variable
    /// TESSERA_FP32_ONEDNN is 0.
    /// </summary>
    public bool OneDnnFloat32Products { get; init; } = Environment.GetEnvironmentVariable("TESSERA_FP32_ONEDNN") != "0";

    /// <summary>libtorch's intra-op thread count; 0 leaves libtorch's default. Default 0.</summary>
    public int Threads { get; init; }

    /// <summary>The device to make usable ("cpu", "cuda", "cuda:N"); CUDA is initialised before any other use of libtorch. Default "cpu".</summary>
    public string Device { get; init; } = "cpu";
}
