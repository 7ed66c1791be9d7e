namespace Tessera.Diffusion.Samplers;

/// <summary>Options a sampler may use; each sampler reads only its own.</summary>
public sealed record SamplerOptions
{
    /// <summary>η of the ancestral and SDE samplers (euler_ancestral, dpmpp_2m_sde, dpmpp_3m_sde). Default 1.</summary>
    public double Eta { get; init; } = 1;

    /// <summary>η of DDIM. Default 0 (deterministic).</summary>
    public double DdimEta { get; init; }

    /// <summary>Noise inflation of the ancestral and SDE samplers.</summary>
    public double SNoise { get; init; } = 1;

    /// <summary>EDM stochastic sampler settings.</summary>
    public EdmStochasticOptions Edm { get; init; } = new();

    /// <summary>Signal-to-noise ratio of the Langevin corrector (pc_langevin).</summary>
    public double Snr { get; init; } = 0.16;

    /// <summary>Corrector steps per level (pc_langevin).</summary>
    public int CorrectorSteps { get; init; } = 1;

    /// <summary>Langevin steps per level (annealed_langevin).</summary>
    public int LangevinSteps { get; init; } = 5;

    /// <summary>Step scale ε of annealed Langevin (NaN: 0.2·σ_L², NCSN's ratio).</summary>
    public double LangevinEpsilon { get; init; } = double.NaN;

    /// <summary>Order of LMS.</summary>
    public int LmsOrder { get; init; } = 4;

    /// <summary>Order and B(h) of UniPC.</summary>
    public UniPcOptions UniPc { get; init; } = new();

    /// <summary>Degree r of DEIS tAB (1–3).</summary>
    public int DeisOrder { get; init; } = 3;

    /// <summary>Highest order of iPNDM (1–4).</summary>
    public int IpndmOrder { get; init; } = 4;

    /// <summary>Tolerances of rk45.</summary>
    public Rk45Options Rk45 { get; init; } = new();
}

/// <summary>Every sampler by name (k-diffusion's names where one exists).</summary>
public static class SamplerRegistry
{
    private static readonly string[] Deterministic = ["euler", "heun", "dpm_2", "lms", "dpmpp_2m", "dpmpp_3m", "ddim", "rk45", "unipc", "unipc_bh1", "deis", "ipndm"];
    private static readonly string[] Stochastic = ["euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde", "edm_stochastic", "ddpm", "euler_maruyama", "pc_langevin", "annealed_langevin"];

    /// <summary>All sampler names.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Deterministic, .. Stochastic];

    /// <summary>The deterministic ones (ODE solvers; DDIM with its default η = 0).</summary>
    public static IReadOnlyList<string> DeterministicNames => Deterministic;

    /// <summary>The stochastic ones.</summary>
    public static IReadOnlyList<string> StochasticNames => Stochastic;

    /// <summary>True when the name is known.</summary>
    public static bool Exists(string name) => Names.Contains(name);

    /// <summary>Checks a sampler name given to the library (the one check of every front door).</summary>
    /// <exception cref="TesseraUserException">Unknown name (named <paramref name="parameter"/>; the message lists the names).</exception>
    public static void Check(string? name, string parameter = "sampler")
    {
        if (name is null || !Exists(name)) throw new TesseraUserException(parameter, $"unknown '{name}'; expected one of {string.Join(", ", Names)}");
    }

    /// <summary>Runs sampler <paramref name="name"/> from <paramref name="x"/> (at σ₀) down the grid.</summary>
    /// <exception cref="TesseraUserException">Unknown name.</exception>
    public static torch.Tensor Sample(string name, Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, SamplerOptions? options = null, Action<SamplerStep>? callback = null)
    {
        var o = options ?? new SamplerOptions();
        return name switch
        {
            "euler" => Euler.Sample(model, x, sigmas, callback),
            "heun" => Heun.Sample(model, x, sigmas, callback),
            "dpm_2" => Dpm2.Sample(model, x, sigmas, callback),
            "lms" => Lms.Sample(model, x, sigmas, o.LmsOrder, callback),
            "dpmpp_2m" => DpmSolverPP2M.Sample(model, x, sigmas, callback),
            "dpmpp_3m" => DpmSolverPP3MSde.Sample(model, x, sigmas, null, eta: 0, callback: callback),
            "ddim" => Ddim.Sample(model, x, sigmas, o.DdimEta, noise, callback),
            "rk45" => Rk45Sampler.Sample(model, x, sigmas, o.Rk45),
            "unipc" => UniPc.Sample(model, x, sigmas, o.UniPc with { Variant = UniPcVariant.Bh2 }, callback),
            "unipc_bh1" => UniPc.Sample(model, x, sigmas, o.UniPc with { Variant = UniPcVariant.Bh1 }, callback),
            "deis" => Deis.Sample(model, x, sigmas, o.DeisOrder, callback),
            "ipndm" => Ipndm.Sample(model, x, sigmas, o.IpndmOrder, callback),
            "euler_ancestral" => EulerAncestral.Sample(model, x, sigmas, noise, o.Eta, o.SNoise, callback),
            "dpmpp_2m_sde" => DpmSolverPP2MSde.Sample(model, x, sigmas, noise, o.Eta, o.SNoise, callback),
            "dpmpp_3m_sde" => DpmSolverPP3MSde.Sample(model, x, sigmas, noise, o.Eta, o.SNoise, callback),
            "edm_stochastic" => EdmStochastic.Sample(model, x, sigmas, noise, o.Edm, callback),
            "ddpm" => Ddpm.Sample(model, x, sigmas, noise, callback),
            "euler_maruyama" => EulerMaruyama.Sample(model, x, sigmas, noise, callback),
            "pc_langevin" => PredictorCorrector.Sample(model, x, sigmas, noise, o.Snr, o.CorrectorSteps, callback),
            "annealed_langevin" => AnnealedLangevin.Sample(model, x, sigmas, noise, o.LangevinSteps, o.LangevinEpsilon, callback),
            _ => throw new TesseraUserException(nameof(name), $"unknown sampler '{name}'; expected one of {string.Join(", ", Names)}"),
        };
    }
}
