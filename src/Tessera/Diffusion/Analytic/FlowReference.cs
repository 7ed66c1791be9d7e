using System.Security.Cryptography;
using System.Text;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Diffusion.Analytic;

/// <summary>
/// The converged probability-flow solution of a mixture from x(σ_max) = σ_max·ε all the way to σ = 0: Dormand–Prince
/// in σ itself on dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, EDM eq. 3 with s = 1), with the slope from
/// <see cref="GaussianMixture.FlowVelocity"/> so it stays exact as σ → 0 (it vanishes there, linearly in σ).
/// Nothing is left to a final denoising step.
/// </summary>
public static class FlowReference
{
    /// <summary>Default relative and absolute tolerance of the reference.</summary>
    public const double DefaultTolerance = 1e-11;

    /// <summary>Solves the PF-ODE for every row of <paramref name="noise"/> from σ_max to 0.</summary>
    /// <param name="mixture">The data distribution.</param>
    /// <param name="noise">Standard-normal noise ε [N, d].</param>
    /// <param name="sigmaMax">Starting σ.</param>
    /// <param name="tolerance">rtol = atol of the step control.</param>
    /// <param name="cancellation">Checked before every slope evaluation.</param>
    /// <returns>x(0) [N, d] and the slope evaluations spent.</returns>
    public static (torch.Tensor X, int Evaluations) Solve(GaussianMixture mixture, torch.Tensor noise, double sigmaMax, double tolerance = DefaultTolerance, CancellationToken cancellation = default)
    {
        torch.Tensor F(double sigma, torch.Tensor x)
        {
            cancellation.ThrowIfCancellationRequested();
            return mixture.FlowVelocity(x, sigma);
        }
        // Dormand–Prince 5(4) with FSAL (Dormand and Prince 1980; Hairer, Nørsett and Wanner, Solving ODEs I, II.4),
        // SciPy's error norm RMS((y₅ − y₄)/(atol + rtol·max(|y|, |y_new|))) and step factor 0.9·err^(−1/5) within [0.2, 10].
        var y = (noise.to(torch.ScalarType.Float64) * sigmaMax).DetachFromDisposeScope();
        var k1 = F(sigmaMax, y).DetachFromDisposeScope();
        int evals = 1, steps = 0;
        double u = sigmaMax, h = sigmaMax / 64;
        while (u > 0)
        {
            if (++steps > 1_000_000) throw new InvalidOperationException("the flow reference took more than a million steps");
            h = Math.Min(h, u);
            double hs = -h;
            using var scope = torch.NewDisposeScope();
            var k = new torch.Tensor[7];
            k[0] = k1;
            torch.Tensor yNew = y;
            for (int st = 1; st < 7; st++)
            {
                var acc = y;
                for (int j = 0; j < st; j++)
                    if (A[st][j] != 0) acc = acc + k[j] * (hs * A[st][j]);
                if (st == 6) yNew = acc;
                k[st] = F(u + C[st] * hs, acc);
                evals++;
            }
            var err = k[0] * (hs * E[0]);
            for (int st = 1; st < 7; st++) if (E[st] != 0) err = err + k[st] * (hs * E[st]);
            var scale = torch.maximum(y.abs(), yNew.abs()) * tolerance + tolerance;
            double errNorm = (err / scale).square().mean().sqrt().item<double>();
            if (errNorm <= 1)
            {
                // The last step lands on σ = 0 exactly.
                u = h >= u ? 0 : u + hs;
                y.Dispose();
                y = yNew.DetachFromDisposeScope();
                k1.Dispose();
                k1 = k[6].DetachFromDisposeScope();
                h *= errNorm == 0 ? 10 : Math.Min(10, 0.9 * Math.Pow(errNorm, -0.2));
            }
            else h *= Math.Max(0.2, 0.9 * Math.Pow(errNorm, -0.2));
        }
        k1.Dispose();
        return (y, evals);
    }

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

    /// <summary>
    /// A name that identifies (mixture, noise, σ_max, tolerance): the first 16 hex digits of the SHA-256 of the
    /// mixture's parameters, the noise's bytes and the two numbers.
    /// </summary>
    public static string Key(GaussianMixture mixture, torch.Tensor noise, double sigmaMax, double tolerance = DefaultTolerance)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var sb = new StringBuilder();
        sb.Append("tessera-flow-reference-v1|").Append(mixture.Dim).Append('|');
        foreach (double w in mixture.Weights) sb.Append(w.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append(',');
        foreach (double s in mixture.Stds) sb.Append(s.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append(',');
        sb.Append('|').Append(sigmaMax.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append('|').Append(tolerance.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        sha.AppendData(Encoding.UTF8.GetBytes(sb.ToString()));
        foreach (double[] m in mixture.Means) sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.AsSpan()));
        using var contiguous = noise.to(torch.ScalarType.Float64).contiguous();
        sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(contiguous.data<double>().ToArray().AsSpan()));
        sha.AppendData(Encoding.UTF8.GetBytes(string.Join(",", noise.shape)));
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>
    /// The reference from <paramref name="directory"/>/flow-reference-KEY.bin when present (with the shape checked),
    /// otherwise solved and written there (atomically, with its .json header).
    /// </summary>
    public static torch.Tensor Cached(string directory, GaussianMixture mixture, torch.Tensor noise, double sigmaMax, double tolerance = DefaultTolerance, CancellationToken cancellation = default)
    {
        string path = Path.Combine(directory, $"flow-reference-{Key(mixture, noise, sigmaMax, tolerance)}.bin");
        if (File.Exists(path) && File.Exists(RawArray.HeaderPath(path)))
            return Load(path, noise);
        var (x, evals) = Solve(mixture, noise, sigmaMax, tolerance, cancellation);
        Directory.CreateDirectory(directory);
        RawArray.WriteFloat64(path, x, $"probability-flow ODE solution at sigma = 0 from sigma_max = {sigmaMax.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} (Dormand-Prince in sigma, rtol = atol = {tolerance.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, {evals} evaluations)");
        return x;
    }

    /// <summary>Reads a reference written by <see cref="Cached"/> (or given by the user) and checks it matches the noise's shape.</summary>
    /// <exception cref="TesseraFormatException">Unreadable, or not [N, d] of the noise.</exception>
    public static torch.Tensor Load(string path, torch.Tensor noise)
    {
        var x = RawArray.ReadFloat64(path);
        if (x.dim() != 2 || x.shape[0] != noise.shape[0] || x.shape[1] != noise.shape[1])
            throw new TesseraFormatException(path, $"reference has shape [{string.Join(", ", x.shape)}], expected [{noise.shape[0]}, {noise.shape[1]}] like the noise");
        return x;
    }
}
