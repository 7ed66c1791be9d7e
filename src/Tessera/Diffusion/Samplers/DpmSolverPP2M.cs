using TorchSharp;

namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2; k-diffusion sample_dpmpp_2m): multistep second order in
/// λ = −log σ, x_{i+1} = (σ_{i+1}/σ_i)·x_i − expm1(−h)·D′ with D′ = (1 + 1/(2r))·D_i − 1/(2r)·D_{i−1},
/// r = h_{i−1}/h_i. The first step and the step to σ = 0 are first order.
/// </summary>
public static class DpmSolverPP2M
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback = null)
    {
        torch.Tensor? old = null;
        double hLast = 0;
        var result = SamplerMath.Loop(x, sigmas, (i, cur, s, sn) =>
        {
            var denoised = model(cur, s);
            callback?.Invoke(new SamplerStep(i, s, sn, cur, denoised));
            torch.Tensor next;
            if (sn == 0) next = denoised.alias();
            else
            {
                double t = -Math.Log(s), tn = -Math.Log(sn), h = tn - t;
                var dPrime = denoised;
                if (old is not null)
                {
                    double r = hLast / h;
                    dPrime = denoised * (1 + 1 / (2 * r)) - old * (1 / (2 * r));
                }
                next = cur * (sn / s) - dPrime * SamplerMath.Expm1(-h);
                hLast = h;
            }
            old?.Dispose();
            old = denoised.MoveToOuterDisposeScope();
            return next;
        });
        old?.Dispose();
        return result;
    }
}

