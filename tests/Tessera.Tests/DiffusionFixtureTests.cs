// The fixtures folder, its arrays and the error measure of the recorded trajectories.
using static Tessera.Tests.RecordedTrajectory;

namespace Tessera.Tests;

/// <summary>Parity with NVlabs/edm and k-diffusion trajectories on the 2-D mixture (tests/fixtures/diffusion).</summary>
public class DiffusionFixtureTests
{
    public static IEnumerable<object[]> Runs() =>
    [
        ["edm_heun_deterministic_n18", "heun", true],
        ["edm_stochastic_n18_churn40", "edm_stochastic", true],
        ["kdiff_euler_karras_n18", "euler", false],
        ["kdiff_heun_karras_n18", "heun", false],
        ["kdiff_dpmpp_2m_karras_n18", "dpmpp_2m", false],
    ];

    private static torch.Tensor Run(string folder, string sampler, Denoiser model, torch.Tensor x0, IReadOnlyList<double> sigmas, Action<SamplerStep>? record)
    {
        return sampler switch
        {
            "heun" => Heun.Sample(model, x0, sigmas, record),
            "euler" => Euler.Sample(model, x0, sigmas, record),
            "dpmpp_2m" => DpmSolverPP2M.Sample(model, x0, sigmas, record),
            "edm_stochastic" => EdmStochastic.Sample(model, x0, sigmas, ReplayNoise.FromStacked(Load(folder, "noise.bin")), new EdmStochasticOptions(40, 0.05, 50, 1.003)),
            _ => throw new ArgumentException(sampler),
        };
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Grid_matches_the_reference(string folder, string sampler, bool edmGrid)
    {
        _ = sampler;
        double[] ours = edmGrid ? SigmaGrids.Karras(18, 0.002, 80, 7) : SigmaGrids.KarrasLinspace(18, 0.002, 80, 7);
        double[] reference = Load(folder, "sigmas.bin").data<double>().ToArray();
        Assert.Equal(reference.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++) Assert.True(Math.Abs(ours[i] - reference[i]) <= 1e-15 * Math.Max(1, reference[i]), $"σ[{i}]: {ours[i]:R} vs {reference[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Step_arithmetic_replays_the_recorded_denoiser_outputs(string folder, string sampler, bool edmGrid)
    {
        _ = edmGrid;
        // A denoiser that returns what the reference's denoiser returned at the same call, and checks
        // that the sampler asked at the same point and noise level; same NFE, states and result.
        var run = new RecordedTrajectory(folder);
        var result = Run(folder, sampler, run.Replay, run.X[0], run.Sigmas, run.Record);
        run.AssertReplayedTo1e12(result);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void End_to_end_with_our_mixture_denoiser_matches_to_1e_10(string folder, string sampler, bool edmGrid)
    {
        var gmm = GaussianMixture.Load(Path.Combine(Dir, "gmm2d.json"));
        var noise = Load("noise_64x2.bin");
        double[] sigmas = edmGrid ? SigmaGrids.Karras(18, 0.002, 80, 7) : SigmaGrids.KarrasLinspace(18, 0.002, 80, 7);
        var counting = new CountingDenoiser(gmm.AsDenoiser());
        var result = Run(folder, sampler, counting.AsDenoiser(), noise * 80.0, sigmas, null);
        var reference = Load(folder, "x.bin");
        Assert.True(MaxAbs(result, reference[^1]) < 1e-10, $"final samples differ by {MaxAbs(result, reference[^1])}");
        Assert.Equal((int)Load(folder, "denoiser_sigma.bin").shape[0], counting.Evaluations);
    }

    [Fact]
    public void Built_in_ring_is_the_fixture_mixture()
    {
        var file = GaussianMixture.Load(Path.Combine(Dir, "gmm2d.json"));
        var ring = GaussianMixture.Ring();
        Assert.Equal(file.Weights, ring.Weights);
        Assert.Equal(file.Stds, ring.Stds);
        for (int k = 0; k < 8; k++)
            for (int d = 0; d < 2; d++) Assert.Equal(file.Means[k][d], ring.Means[k][d], 14);
    }

    [Fact]
    public void Mixture_denoiser_reproduces_every_recorded_call()
    {
        var gmm = GaussianMixture.Load(Path.Combine(Dir, "gmm2d.json"));
        var dx = Load("kdiff_heun_karras_n18/denoiser_x.bin");
        var ds = Load("kdiff_heun_karras_n18/denoiser_sigma.bin").data<double>().ToArray();
        var dd = Load("kdiff_heun_karras_n18/denoised.bin");
        for (int k = 0; k < ds.Length; k++)
            Assert.True(MaxAbs(gmm.Denoise(dx[k], ds[k]), dd[k]) < 1e-12, $"call {k}");
    }
}
