namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2; k-diffusion sample_dpmpp_2m): multistep second order in
/// λ = −log σ, x_{i+1} = (σ_{i+1}/σ_i)·x_i − expm1(−h)·D′ with D′ = (1 + 1/(2r))·D_i − 1/(2r)·D_{i−1},
/// r = h_{i−1}/h_i. The first step and the step to σ = 0 are first order. It is the η = 0 case of
/// <see cref="DpmSolverPP2MSde"/>: with φ = −expm1(−h), −expm1(−h)·D′ = φ·D_i + φ/(2r)·(D_i − D_{i−1}).
/// </summary>
public static class DpmSolverPP2M
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback = null) =>
        DpmSolverPP2MSde.Sample(model, x, sigmas, null, eta: 0, callback: callback);
}
