using System.Text;

namespace Tessera.Runtime;

/// <summary>
/// libtorch's float32 matrix-product precision (PyTorch's <c>torch.set_float32_matmul_precision</c>), which TorchSharp
/// does not expose, set through at::Context. "highest" (libtorch's default): float32 products in float32 (on the CPU
/// through MKL). "medium": on CPUs with bfloat16 instructions libtorch sends float32 products to oneDNN with bfloat16
/// arithmetic (float32 in and out, inputs rounded to bfloat16); "high" allows TF32 (GPUs; on CPUs only with AMX-FP16).
/// Process-wide; the library never sets it (issue 28 measures it: bench/README.md).
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
}
