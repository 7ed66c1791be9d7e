// The fixtures folder, its arrays and the error measure of the recorded trajectories.
using static Tessera.Tests.RecordedTrajectory;

namespace Tessera.Tests;

/// <summary>Parity with the official UniPC code (wl-zhao/UniPC) on the 2-D ring (tests/fixtures/diffusion/unipc_*).</summary>
public class UniPcFixtureTests
{
    public static IEnumerable<object[]> Runs() =>
    [
        ["unipc_bh1_order2_karras_n10", UniPcVariant.Bh1, 2],
        ["unipc_bh2_order2_karras_n10", UniPcVariant.Bh2, 2],
        ["unipc_bh2_order3_karras_n10", UniPcVariant.Bh2, 3],
        ["unipc_bh1_order3_logsnr_n10", UniPcVariant.Bh1, 3],
    ];

    [Theory]
    [MemberData(nameof(Runs))]
    public void Step_arithmetic_replays_the_recorded_model_outputs_to_1e_12(string folder, UniPcVariant variant, int order)
    {
        var run = new RecordedTrajectory(folder);
        var result = UniPc.Sample(run.Replay, run.X[0], run.Sigmas, new UniPcOptions(order, variant), run.Record);
        // NFE = steps (the corrector reuses the next step's call), same inputs, states and result.
        run.AssertReplayedTo1e12(result);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void End_to_end_with_our_mixture_denoiser_matches_to_1e_10(string folder, UniPcVariant variant, int order)
    {
        var gmm = GaussianMixture.Load(Path.Combine(Dir, "gmm2d.json"));
        var sigmas = Load(folder, "sigmas.bin").data<double>().ToArray();
        var counting = new CountingDenoiser(gmm.AsDenoiser());
        var result = UniPc.Sample(counting.AsDenoiser(), Load("noise_64x2.bin") * sigmas[0], sigmas, new UniPcOptions(order, variant));
        var reference = Load(folder, "x.bin");
        Assert.True(MaxAbs(result, reference[^1]) < 1e-10, $"final samples differ by {MaxAbs(result, reference[^1]):e3}");
        Assert.Equal(10, counting.Evaluations);
    }

    [Fact]
    public void A_final_zero_step_returns_the_last_data_prediction_without_an_extra_call()
    {
        var gmm = GaussianMixture.Ring();
        var x = torch.randn([16, 2], torch.ScalarType.Float64, generator: new torch.Generator(3)) * 80.0;
        var grid = Tessera.Diffusion.Grids.SigmaGrids.Karras(8, 0.002, 80);
        var counting = new CountingDenoiser(gmm.AsDenoiser());
        var withZero = UniPc.Sample(counting.AsDenoiser(), x, grid);
        Assert.Equal(8, counting.Evaluations);
        // The last UniPC step (to σ_min) is corrected with D(x; σ_min), which is then the answer at σ = 0.
        var calls = new List<(torch.Tensor X, double Sigma)>();
        var again = UniPc.Sample((xi, s) => { calls.Add((xi.clone().DetachFromDisposeScope(), s)); return gmm.Denoise(xi, s); }, x, grid);
        Assert.Equal(grid[^2], calls[^1].Sigma);
        Assert.True(MaxAbs(again, gmm.Denoise(calls[^1].X, grid[^2])) == 0);
        Assert.True(MaxAbs(again, withZero) == 0);
    }
}
