using System.Diagnostics;

namespace Tessera.Runtime;

/// <summary>
/// The host's large-matrix rate: how fast libtorch multiplies two n × n matrices (2n³ floating-point operations per
/// product) at the current thread count, in GFLOP/s. A model's floating-point operations divided by this rate is
/// the time it would take if every operation ran at the rate of a large product — the roofline floor a model's time
/// is read against.
/// </summary>
public static class MatmulRate
{
    /// <summary>
    /// Measures the rate for <paramref name="n"/> × <paramref name="n"/> products of <paramref name="type"/>: one
    /// warm-up product, then products until <paramref name="seconds"/> have passed (at least two); the best of
    /// three such windows (other processes only ever slow a window down).
    /// </summary>
    public static double Measure(int n, torch.ScalarType type, double seconds = 1.0, torch.Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 16);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a = torch.randn(n, n, dtype: type, device: device);
        var b = torch.randn(n, n, dtype: type, device: device);
        var c = torch.mm(a, b);
        Synchronize(device);
        double best = 0, flops = 2.0 * n * n * n;
        for (int window = 0; window < 3; window++)
        {
            var sw = Stopwatch.StartNew();
            int calls = 0;
            while (calls < 2 || sw.Elapsed.TotalSeconds < seconds / 3)
            {
                torch.mm(a, b).Dispose();
                calls++;
                if (device?.type == DeviceType.CUDA && calls % 8 == 0) Synchronize(device);
            }
            Synchronize(device);
            best = Math.Max(best, flops * calls / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private static void Synchronize(torch.Device? device)
    {
        if (device?.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }

    /// <summary>A model's time as a multiple of its floor: <paramref name="seconds"/> ÷ (<paramref name="flops"/> ÷ <paramref name="gflopsPerSecond"/>).</summary>
    public static double RooflineMultiple(double seconds, double flops, double gflopsPerSecond) =>
        seconds / (flops / (gflopsPerSecond * 1e9));
}
