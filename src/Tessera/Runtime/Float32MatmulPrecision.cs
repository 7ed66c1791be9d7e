using System.Text;

namespace Tessera.Runtime;

/// <summary>
/// libtorch's float32 matrix-product precision (PyTorch's <c>torch.set_float32_matmul_precision</c>), which TorchSharp
/// does not expose, set through at::Context. "highest" (libtorch's default): float32 products in float32 (on the CPU
/// through MKL). "medium": on CPUs with bfloat16 instructions libtorch sends float32 products (mm, addmm, bmm, linear)
/// to oneDNN and allows it bfloat16 arithmetic, which oneDNN uses only where it has such kernels (AMX); on an AVX-512
/// CPU without AMX it multiplies in float32 with its own AVX-512 kernels — on an AMD EPYC that is 1.9–2.1× the rate of
/// MKL, which takes its generic path there (issue 28, bench/README.md). "high" allows TF32 (GPUs; on CPUs only with
/// AMX-FP16). Process-wide: <see cref="TorchRuntime.Configure"/> uses "medium" only where <see cref="UseOneDnnWhereExact"/>
/// finds it exact (<see cref="RuntimeOptions.OneDnnFloat32Products"/>).
/// </summary>
public static partial class Float32MatmulPrecision
{
    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context25setFloat32MatmulPrecisionERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE")]
    private static partial void SetPrecision(IntPtr context, IntPtr text);

    /// <summary>The values libtorch accepts.</summary>
    public static readonly string[] Values = ["highest", "high", "medium"];

    /// <summary>Sets the precision; returns false when the native setter is not reachable (not Linux x64, other libtorch).</summary>
    /// <exception cref="TesseraUserException"><paramref name="value"/> is not highest, high or medium (parameter <c>value</c>).</exception>
    public static bool Set(string value)
    {
        lock (Gate) return SetCore(value);
    }

    private static readonly object Gate = new();

    private static bool SetCore(string value)
    {
        if (!Values.Contains(value)) throw new TesseraUserException(nameof(value), $"'{value}' is not a float32 matrix-product precision; expected {string.Join(", ", Values)}");
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return false;
        _ = TorchSharp.torch.get_num_threads(); // loads libtorch
        // A libstdc++ std::string in its short form (pointer to its own 16-byte buffer, length, buffer): every value is shorter than 16 bytes.
        IntPtr s = Marshal.AllocHGlobal(32);
        try
        {
            byte[] bytes = Encoding.ASCII.GetBytes(value);
            Marshal.WriteIntPtr(s, s + 16);
            Marshal.WriteInt64(s, 8, bytes.Length);
            Marshal.Copy(bytes, 0, s + 16, bytes.Length);
            Marshal.WriteByte(s, 16 + bytes.Length, 0);
            SetPrecision(GlobalContext(), s);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
        finally
        {
            Marshal.FreeHGlobal(s);
        }
    }

    /// <summary>Whether float32 products go to oneDNN with float32 arithmetic (set by <see cref="UseOneDnnWhereExact"/>).</summary>
    public static bool OneDnnFloat32 { get; private set; }

    /// <summary>
    /// Sends float32 matrix products to oneDNN ("medium") if that keeps float32 arithmetic on this CPU, else leaves them
    /// to MKL ("highest"); returns whether oneDNN takes them. The check: a 256 × 256 product of 1 + 2⁻¹² by ones, as a
    /// matrix product, a batched product and a linear layer with bias, must come out exactly 256·(1 + 2⁻¹²) + bias — a
    /// bfloat16 (8-bit) or TF32 (10-bit) multiplication rounds the 2⁻¹² away. Process-wide, like <see cref="Set"/>: call
    /// it at start-up, before other threads use libtorch (libtorch's setter assigns global strings its products read).
    /// </summary>
    public static bool UseOneDnnWhereExact()
    {
        OneDnnFloat32 = false;
        if (!Set("medium")) return false;
        bool exact;
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            const int N = 256;
            float u = 1f + MathF.Pow(2, -12);
            var a = TorchSharp.torch.full(N, N, u);
            var b = TorchSharp.torch.ones(N, N);
            float expected = N * u; // exact in float32: 256 + 2⁻⁴
            exact = TorchSharp.torch.mm(a, b).eq(expected).all().item<bool>()
                && TorchSharp.torch.matmul(a.unsqueeze(0).expand(2, N, N), b.unsqueeze(0).expand(2, N, N)).eq(expected).all().item<bool>()
                && TorchSharp.torch.nn.functional.linear(a, b, TorchSharp.torch.full(N, 0.5f)).eq(expected + 0.5f).all().item<bool>();
        }
        if (!exact) Set("highest");
        OneDnnFloat32 = exact;
        return exact;
    }
}
