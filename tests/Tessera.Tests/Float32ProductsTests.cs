using System.Diagnostics;

namespace Tessera.Tests;

/// <summary>
/// Issue 28: float32 matrix products go to oneDNN (libtorch's "medium" float32 matmul precision) only where it multiplies
/// in float32 (<see cref="Tessera.Runtime.Float32MatmulPrecision.UseOneDnnWhereExact"/>, applied by the test process's
/// <c>TorchRuntime.Configure</c>). Whichever path this CPU got, the products the models run — large mm, batched products
/// of attention's shapes, linear layers with bias — must keep float32 arithmetic: an increment of 2⁻¹² survives (bfloat16
/// and TF32 round it away) and random products stay within float32's error of a float64 reference.
/// </summary>
public sealed class Float32ProductsTests(ITestOutputHelper log)
{
    public static TheoryData<string, int, int, int, int> Shapes => new()
    {
        { "mm", 1, 2048, 2048, 2048 },
        { "bmm", 8, 512, 64, 4096 },      // attention logits: queries × keys
        { "bmm", 8, 512, 4096, 64 },      // attention weights × values
        { "linear", 1, 4096, 768, 3072 }, // a ViT MLP layer
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32_products_keep_float32_arithmetic(string op, int batch, int m, int k, int n)
    {
        using var scope = torch.NewDisposeScope();
        log.WriteLine($"float32 products through oneDNN: {Tessera.Runtime.Float32MatmulPrecision.OneDnnFloat32}");
        float u = 1f + MathF.Pow(2, -12);
        var a = torch.full(batch, m, k, u);
        var b = torch.ones(batch, k, n);
        float bias = 0.25f;
        var exact = Product(op, a, b, bias);
        Assert.True(exact.eq(k * u + (op == "linear" ? bias : 0f)).all().item<bool>(), $"{op} lost the 2^-12 increment: {exact.flatten()[0].item<float>()} instead of {k * u}");
        var gen = new torch.Generator(11);
        var x = torch.randn([batch, m, k], generator: gen);
        var y = torch.randn([batch, k, n], generator: gen);
        var got = Product(op, x, y, bias).to(torch.ScalarType.Float64);
        var reference = Product(op, x.to(torch.ScalarType.Float64), y.to(torch.ScalarType.Float64), bias);
        double rel = (got - reference).norm().item<double>() / reference.norm().item<double>();
        log.WriteLine($"{op} {batch}x{m}x{k}x{n}: relative error against float64 {rel:0.00e0}");
        Assert.True(rel < 2e-6, $"relative error {rel:g3}: not float32 arithmetic (bfloat16 gives about 2e-3, TF32 about 3e-4)");
    }

    private static torch.Tensor Product(string op, torch.Tensor a, torch.Tensor b, float bias) => op switch
    {
        "mm" => torch.mm(a[0], b[0]),
        "bmm" => torch.matmul(a, b),
        _ => torch.nn.functional.linear(a[0], b[0].t(), torch.full(b.shape[2], bias, dtype: a.dtype)),
    };

    [Fact]
    public async Task Tessera_info_reports_the_path_and_the_opt_out_keeps_MKL()
    {
        async Task<string> Info(bool optOut)
        {
            var psi = CliErrorPathTests.Child("info");
            if (optOut) psi.Environment["TESSERA_FP32_ONEDNN"] = "0";
            else psi.Environment.Remove("TESSERA_FP32_ONEDNN");
            using var p = Process.Start(psi)!;
            string output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.Equal(0, p.ExitCode);
            return output.Split('\n').Single(l => l.Contains("float32 products", StringComparison.Ordinal));
        }
        string on = await Info(false), off = await Info(true);
        log.WriteLine(on.Trim());
        log.WriteLine(off.Trim());
        // The same CPU as this test process, which Configure set up with the default options.
        Assert.Contains(Tessera.Runtime.Float32MatmulPrecision.OneDnnFloat32 ? "oneDNN (float32 arithmetic, checked)" : "libtorch's default", on);
        Assert.Contains("libtorch's default", off);
    }
}
