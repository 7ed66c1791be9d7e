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
            if (++steps > options.MaxSteps) throw new TesseraUserException(nameof(Rk45Options.MaxSteps), $"RK45 took more than {options.MaxSteps} steps; loosen rtol/atol");
            bool last = h >= Math.Abs(u1 - u);
            if (last) h = Math.Abs(u1 - u);
            double hs = dir * h;
            // One scope per step; the stages are accumulated in place and every Scalar is disposed at once (TorchSharp
            // 0.107 leaves implicitly converted Scalars to the finalizer, and thousands of them fragment the native heap).
            using var scope = torch.NewDisposeScope();
            using var coefficients = new ScalarBag();
            k[0] = k1;
            torch.Tensor yNew = y;
            for (int s = 1; s < 7; s++)
            {
                var acc = y.clone();
                for (int j = 0; j < s; j++)
                    if (A[s][j] != 0) acc.add_(k[j], coefficients.Of(hs * A[s][j]));
                // The last stage's input is the fifth-order solution itself (A[6] = b; FSAL).
                if (s == 6) yNew = acc;
                k[s] = f(u + C[s] * hs, acc);
                evals++;
            }
            var err = k[0].mul(coefficients.Of(hs * E[0]));
            for (int s = 1; s < 7; s++) if (E[s] != 0) err.add_(k[s], coefficients.Of(hs * E[s]));
            var scale = torch.maximum(y.abs(), yNew.abs()).mul_(coefficients.Of(options.Rtol)).add_(coefficients.Of(options.Atol));
            err.div_(scale);
            double errNorm = err.mul_(err).mean().sqrt().item<double>();
            if (errNorm <= 1)
            {
                // The last step lands on u1 exactly (u + (u1 − u) need not round to u1).
                u = last ? u1 : u + hs;
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
