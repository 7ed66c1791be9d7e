using Tessera.Diffusion.Preconditioning;
using Tessera.Diffusion.Schedules;

namespace Tessera.Tests;

/// <summary>Preconditioning coefficients and schedules against NVlabs/edm (tests/fixtures/diffusion/precond).</summary>
public class PrecondFixtureTests
{
    private static JsonElement Json(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Dir("diffusion"), "precond", file))).RootElement;

    private static double[] Array(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static void Close(double expected, double actual, double rel, string what) =>
        Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(Math.Abs(expected), 1e-300), $"{what}: expected {expected:R}, got {actual:R}");

    /// <summary>
    /// EDM evaluates the VP σ(t) as √(exp(a) − 1), which loses about ε/a relative to cancellation when
    /// a = β_d t²/2 + β_min t is small; Tessera uses expm1. The tolerance allows the reference's own error.
    /// </summary>
    private static double CancellationTolerance(double t) => 1e-12 + 2.3e-16 / (0.5 * 19.9 * t * t + 0.1 * t);

    [Fact]
    public void Float64_coefficients_match_to_1e_13()
    {
        var root = Json("precond_coefficients.json");
        double[] sigmas = Array(root.GetProperty("sigmas"));
        var f64 = root.GetProperty("float64");
        var cases = new (string Key, Preconditioner P)[]
        {
            ("EDMPrecond", new EdmPrecond()), ("VPPrecond", new VpPrecond()), ("VEPrecond", new VePrecond()), ("iDDPMPrecond", new IddpmPrecond()),
        };
        foreach (var (key, p) in cases)
        {
            var block = f64.GetProperty(key);
            for (int i = 0; i < sigmas.Length; i++)
            {
                PrecondCoefficients c = p.At(sigmas[i]);
                Close(Array(block.GetProperty("c_skip"))[i], c.CSkip, 1e-13, $"{key} c_skip at {sigmas[i]}");
                Close(Array(block.GetProperty("c_out"))[i], c.COut, 1e-13, $"{key} c_out at {sigmas[i]}");
                Close(Array(block.GetProperty("c_in"))[i], c.CIn, 1e-13, $"{key} c_in at {sigmas[i]}");
                double noise = Array(block.GetProperty("c_noise"))[i];
                if (noise == 0) Assert.True(Math.Abs(c.CNoise) < 1e-15, $"{key} c_noise at {sigmas[i]}");
                else Close(noise, c.CNoise, 1e-13, $"{key} c_noise at {sigmas[i]}");
                if (block.GetProperty("loss_weight").ValueKind == JsonValueKind.Array)
                    Close(Array(block.GetProperty("loss_weight"))[i], c.LossWeight, 1e-13, $"{key} λ at {sigmas[i]}");
                else Assert.True(double.IsNaN(c.LossWeight));
            }
        }
        var hyper = f64.GetProperty("VPPrecond").GetProperty("hyper");
        Close(hyper.GetProperty("sigma_min").GetDouble(), new VpPrecond().SigmaMin, CancellationTolerance(1e-5), "VP σ_min");
        Close(hyper.GetProperty("sigma_max").GetDouble(), new VpPrecond().SigmaMax, 1e-13, "VP σ_max");
    }

    [Fact]
    public void Iddpm_grid_matches_the_float64_recursion()
    {
        double[] reference = RawArray.ReadFloat64(Path.Combine(Fixtures.Dir("diffusion"), "precond", "iddpm_u_float64.bin")).data<double>().ToArray();
        double[] ours = new IddpmPrecond().U;
        Assert.Equal(reference.Length, ours.Length);
        // The stored "float64" grid carries float32-level rounding (u[0] = 20291.169921875 is a float32
        // value); the fixture's own hyper-parameters give the exact float64 ends, which we match to 1e-13.
        for (int j = 0; j < ours.Length; j++) Close(reference[j], ours[j], 1e-6, $"u[{j}]");
        var hyper = Json("precond_coefficients.json").GetProperty("float64").GetProperty("iDDPMPrecond").GetProperty("hyper");
        Close(hyper.GetProperty("sigma_max").GetDouble(), ours[0], 1e-13, "u[0]");
        Close(hyper.GetProperty("sigma_min").GetDouble(), ours[^2], 1e-13, "u[M-1]");
    }

    [Fact]
    public void Vp_and_ve_schedules_match_edm_helpers()
    {
        var root = Json("vp_ve_schedules.json");
        var vpBlock = root.GetProperty("VP");
        var vp = new VpSchedule(vpBlock.GetProperty("beta_d").GetDouble(), vpBlock.GetProperty("beta_min").GetDouble());
        var ve = new VeSqrtSchedule();
        foreach (var (block, sch) in new (JsonElement, Schedule)[] { (vpBlock, vp), (root.GetProperty("VE"), ve) })
        {
            double[] t = Array(block.GetProperty("t"));
            for (int i = 0; i < t.Length; i++)
            {
                double tol = sch is VpSchedule ? CancellationTolerance(t[i]) : 1e-12;
                Close(Array(block.GetProperty("sigma"))[i], sch.Sigma(t[i]), tol, $"{sch.Name} σ({t[i]})");
                Close(Array(block.GetProperty("sigma_deriv"))[i], sch.SigmaDeriv(t[i]), tol, $"{sch.Name} σ'({t[i]})");
                Close(Array(block.GetProperty("sigma_inv(sigma(t))"))[i], sch.SigmaInv(sch.Sigma(t[i])), 1e-9, $"{sch.Name} σ⁻¹");
                Close(Array(block.GetProperty("s"))[i], sch.Scale(t[i]), 1e-12, $"{sch.Name} s({t[i]})");
                double sd = Array(block.GetProperty("s_deriv"))[i];
                if (sd == 0) Assert.Equal(0, sch.ScaleDeriv(t[i]));
                else Close(sd, sch.ScaleDeriv(t[i]), 1e-12, $"{sch.Name} s'({t[i]})");
            }
        }
    }
}
