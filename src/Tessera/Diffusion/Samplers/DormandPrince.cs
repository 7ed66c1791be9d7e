using TorchSharp;

namespace Tessera.Diffusion.Samplers;

/// <summary>Settings of the adaptive solver.</summary>
/// <param name="Rtol">Relative tolerance.</param>
/// <param name="Atol">Absolute tolerance.</param>
/// <param name="MaxSteps">Give up after this many accepted and rejected steps.</param>
public sealed record Rk45Options(double Rtol = 1e-5, double Atol = 1e-5, int MaxSteps = 100_000);

/// <summary>
/// Dormand–Prince RK5(4) with FSAL and error control as in SciPy's RK45 (Dormand and Prince 1980;
/// Hairer, Nørsett and Wanner, Solving ODEs I, II.4): the error norm is the RMS of
/// (y₅ − y₄)/(atol + rtol·max(|y|, |y_new|)), steps grow or shrink by 0.9·err^(−1/5) within [0.2, 10].
/// </summary>
public static class DormandPrince
{
    private static readonly double[] C = [0, 1 / 5.0, 3 / 10.0, 4 / 5.0, 8 / 9.0, 1, 1];
    private static readonly double[][] A =
    [
        [],
        [1 / 5.0],
        [3 / 40.0, 9 / 40.0],
        [44 / 45.0, -56 / 15.0, 32 / 9.0],
        [19372 / 6561.0, -25360 / 2187.0, 64448 / 6561.0, -212 / 729.0],
        [9017 / 3168.0, -355 / 33.0, 46732 / 5247.0, 49 / 176.0, -5103 / 18656.0],
        [35 / 384.0, 0, 500 / 1113.0, 125 / 192.0, -2187 / 6784.0, 11 / 84.0],
    ];
    private static readonly double[] E = [71 / 57600.0, 0, -71 / 16695.0, 71 / 1920.0, -17253 / 339200.0, 22 / 525.0, -1 / 40.0];

    /// <summary>Integrates dy/du = f(u, y) from u0 to u1 (either direction); returns y(u1) and the number of f evaluations.</summary>
    public static (torch.Tensor Y, int Evaluations) Integrate(Func<double, torch.Tensor, torch.Tensor> f, torch.Tensor y0, double u0, double u1, Rk45Options options, double firstStep)
    {
        double dir = Math.Sign(u1 - u0), u = u0;
        double h = Math.Min(Math.Abs(firstStep), Math.Abs(u1 - u0));
        var y = y0.alias();
        var k1 = f(u, y);
        int evals = 1, steps = 0;
        var k = new torch.Tensor[7];
        while (dir * (u1 - u) > 0)
        {
            if (++steps > options.MaxSteps) throw new InvalidOperationException($"RK45 took more than {options.MaxSteps} steps; loosen rtol/atol");
            h = Math.Min(h, Math.Abs(u1 - u));
            double hs = dir * h;
            using var scope = torch.NewDisposeScope();
            k[0] = k1;
            torch.Tensor yNew = y;
            for (int s = 1; s < 7; s++)
            {
                var acc = y.alias();
                for (int j = 0; j < s; j++)
                    if (A[s][j] != 0) acc = acc + k[j] * (hs * A[s][j]);
                // The last stage's input is the fifth-order solution itself (A[6] = b; FSAL).
                if (s == 6) yNew = acc;
                k[s] = f(u + C[s] * hs, acc);
                evals++;
            }
            var err = k[0] * (hs * E[0]);
            for (int s = 1; s < 7; s++) if (E[s] != 0) err = err + k[s] * (hs * E[s]);
            var scale = torch.maximum(y.abs(), yNew.abs()) * options.Rtol + options.Atol;
            double errNorm = (err / scale).square().mean().sqrt().item<double>();
            if (errNorm <= 1)
            {
                u += hs;
                y.Dispose();
                y = yNew.MoveToOuterDisposeScope();
                k1.Dispose();
                k1 = k[6].MoveToOuterDisposeScope();
                h *= errNorm == 0 ? 10 : Math.Min(10, 0.9 * Math.Pow(errNorm, -0.2));
            }
            else
            {
                h *= Math.Max(0.2, 0.9 * Math.Pow(errNorm, -0.2));
            }
        }
        k1.Dispose();
        return (y, evals);
    }
}
