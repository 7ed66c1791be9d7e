namespace Tessera.Runtime;

/// <summary>
/// The number format inference runs in. <see cref="Float32"/> is exact to the reference; <see cref="BFloat16"/> keeps
/// float32's range with an 8-bit mantissa (fast on CPUs with <c>avx512_bf16</c> or AMX, and on GPUs);
/// <see cref="Float16"/> is for GPUs. The lower formats follow PyTorch's autocast: matrix products and convolutions
/// (the weights and the activations between them) in the lower format, while the numerically sensitive parts
/// (normalisation statistics, softmax, positional terms, the last logits) are computed in float32 — see each model's
/// documentation for where its boundary lies.
/// </summary>
public enum Precision
{
    /// <summary>float32 throughout (the default).</summary>
    [JsonStringEnumMemberName("fp32")] Float32,

    /// <summary>bfloat16 weights and activations, float32 where autocast keeps it.</summary>
    [JsonStringEnumMemberName("bf16")] BFloat16,

    /// <summary>float16 weights and activations, float32 where autocast keeps it (GPUs; slow on most CPUs).</summary>
    [JsonStringEnumMemberName("fp16")] Float16,
}

/// <summary>What a <see cref="Precision"/> means for libtorch, and whether the hardware runs it natively.</summary>
public static class PrecisionInfo
{
    /// <summary>The tensor element type of <paramref name="precision"/>.</summary>
    public static torch.ScalarType ScalarType(this Precision precision) => precision switch
    {
        Precision.Float32 => torch.ScalarType.Float32,
        Precision.BFloat16 => torch.ScalarType.BFloat16,
        Precision.Float16 => torch.ScalarType.Float16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>
    /// Whether <paramref name="device"/> has instructions for <paramref name="precision"/>'s products: always for
    /// float32 and on CUDA; on the CPU bfloat16 needs <c>avx512_bf16</c> or <c>amx_bf16</c>, float16 needs
    /// <c>avx512_fp16</c> or AMX-FP16 (elsewhere libtorch emulates them, usually slower than float32).
    /// </summary>
    public static bool IsNative(this Precision precision, torch.Device device) => IsNative(precision, device, null);

    internal static bool IsNative(this Precision precision, torch.Device device, CpuFeatures? cpu)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (precision == Precision.Float32 || device.type == DeviceType.CUDA) return true;
        var flags = (cpu ?? CpuFeatures.Detect()).HostFlags;
        return precision == Precision.BFloat16
            ? flags.Contains("avx512_bf16") || flags.Contains("amx_bf16")
            : flags.Contains("avx512_fp16") || flags.Contains("amx_fp16");
    }

    /// <summary>
    /// Checks that <paramref name="precision"/> can run on <paramref name="device"/>: float16 on a CPU without
    /// <c>avx512_fp16</c>/AMX-FP16 is refused (libtorch would emulate it, slower than float32); bfloat16 runs everywhere
    /// (emulated, and slower than float32, on CPUs without <c>avx512_bf16</c>/AMX).
    /// </summary>
    /// <exception cref="TesseraUserException">Float16 on such a CPU (named <paramref name="parameter"/>).</exception>
    public static void Require(this Precision precision, torch.Device device, string parameter)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (precision == Precision.Float16 && !precision.IsNative(device))
            throw new TesseraUserException(parameter, "fp16 on this CPU: it has no avx512_fp16 or AMX-FP16 instructions, so libtorch would emulate float16 (slower than fp32); use bf16, or fp16 on a GPU");
    }

    /// <summary>
    /// Converts the layers of <paramref name="module"/> (every module without submodules: convolutions, linear layers,
    /// normalisations, embeddings) to <paramref name="precision"/>'s type, in place; parameters and buffers that a module
    /// with submodules holds itself (position tables, Fourier frequencies) stay as they are.
    /// </summary>
    internal static void ApplyToLayers(torch.nn.Module module, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(module);
        var type = precision.ScalarType();
        foreach (var layer in module.modules().Where(m => !m.children().Any()).ToList()) layer.to(type);
    }

    /// <summary>
    /// Converts the floating-point parameters and buffers of <paramref name="module"/> to
    /// <paramref name="precision"/>'s type, in place (integer buffers are left).
    /// </summary>
    public static void Apply(torch.nn.Module module, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(module);
        var type = precision.ScalarType();
        if (module.parameters().Concat(module.buffers()).All(t => !t.is_floating_point() || t.dtype == type)) return;
        module.to(type);
    }
}
