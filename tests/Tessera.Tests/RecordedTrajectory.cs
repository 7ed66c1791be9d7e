namespace Tessera.Tests;

/// <summary>
/// A sampler run recorded by a reference implementation (tests/fixtures/diffusion/FOLDER: sigmas.bin,
/// denoiser_x.bin, denoiser_sigma.bin, denoised.bin, x.bin, all float64): <see cref="Replay"/> is a denoiser that
/// returns what the reference's denoiser returned at the same call, after checking that the sampler asked at the same
/// noise level, and <see cref="AssertReplayedTo1e12"/> compares the run with the recorded one.
/// </summary>
internal sealed class RecordedTrajectory
{
    private readonly torch.Tensor _dx, _dd;
    private readonly double[] _ds;
    private double _worstInput;

    public RecordedTrajectory(string folder)
    {
        Sigmas = Load(folder, "sigmas.bin").data<double>().ToArray();
        _dx = Load(folder, "denoiser_x.bin");
        _ds = Load(folder, "denoiser_sigma.bin").data<double>().ToArray();
        _dd = Load(folder, "denoised.bin");
        X = Load(folder, "x.bin");
    }

    /// <summary>The fixtures' diffusion folder.</summary>
    public static string Dir => Fixtures.Dir("diffusion");

    /// <summary>A float64 array of the diffusion fixtures.</summary>
    public static torch.Tensor Load(params string[] path) => RawArray.ReadFloat64(Path.Combine([Dir, .. path]));

    /// <summary>The largest absolute difference.</summary>
    public static double MaxAbs(torch.Tensor a, torch.Tensor b) => (a - b).abs().max().item<double>();

    /// <summary>The recorded σ-grid.</summary>
    public double[] Sigmas { get; }

    /// <summary>The recorded states x₀ … x_N.</summary>
    public torch.Tensor X { get; }

    /// <summary>The states the sampler reported, in order (<see cref="Record"/>).</summary>
    public List<torch.Tensor> Steps { get; } = [];

    /// <summary>Denoiser calls so far.</summary>
    public int Calls { get; private set; }

    /// <summary>The reference's output at the next call, after checking σ (to 1e-13) and keeping the input's distance.</summary>
    public torch.Tensor Replay(torch.Tensor input, double sigma)
    {
        Assert.True(Math.Abs(sigma - _ds[Calls]) <= 1e-13 * Math.Max(1, _ds[Calls]), $"call {Calls}: σ {sigma:R} vs {_ds[Calls]:R}");
        _worstInput = Math.Max(_worstInput, MaxAbs(input, _dx[Calls]));
        return _dd[Calls++].clone();
    }

    /// <summary>A sampler callback that keeps each reported state.</summary>
    public void Record(SamplerStep step) => Steps.Add(step.X.clone().MoveToOuterDisposeScope());

    /// <summary>The same number of calls (NFE), the same model inputs, states and result to 1e-12.</summary>
    public void AssertReplayedTo1e12(torch.Tensor result)
    {
        Assert.Equal(_ds.Length, Calls);
        Assert.True(_worstInput < 1e-12, $"denoiser inputs differ by {_worstInput:e3}");
        for (int i = 0; i < Steps.Count; i++) Assert.True(MaxAbs(Steps[i], X[i]) < 1e-12, $"x[{i}] differs by {MaxAbs(Steps[i], X[i]):e3}");
        Assert.True(MaxAbs(result, X[^1]) < 1e-12, $"final samples differ by {MaxAbs(result, X[^1]):e3}");
    }
}
