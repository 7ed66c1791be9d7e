namespace Tessera.Diffusion.Schedules;

/// <summary>
/// The stochastic-differential-equation views of a <see cref="Schedule"/> (Karras et al. App. B.2; Song
/// et al. 2021): forward dx = f(t)·x dt + g(t) dω with f = s'/s and g = s·√(2σ'σ); reverse
/// dx = [f·x − g²·∇ₓlog pₜ(x)] dt + g dω̄; probability flow dx/dt = f·x − ½g²·∇ₓlog pₜ(x) (EDM eq. 4).
/// The score of the scaled marginal comes from the denoiser: ∇ₓlog pₜ(x) = (D(x/s; σ) − x/s)/(s·σ²).
/// </summary>
public static class Sde
{
    /// <summary>Drift coefficient f(t) = s'(t)/s(t) (the drift is f·x).</summary>
    public static double DriftCoefficient(Schedule schedule, double t) => schedule.ScaleDeriv(t) / schedule.Scale(t);

    /// <summary>Diffusion g(t) = s(t)·√(2σ'(t)σ(t)).</summary>
    public static double Diffusion(Schedule schedule, double t) => schedule.Scale(t) * Math.Sqrt(2 * schedule.SigmaDeriv(t) * schedule.Sigma(t));

    /// <summary>∇ₓ log pₜ(x) for the scaled state x at time t.</summary>
    public static torch.Tensor Score(Schedule schedule, Denoiser model, torch.Tensor x, double t)
    {
        double s = schedule.Scale(t), sigma = schedule.Sigma(t);
        using var scope = torch.NewDisposeScope();
        var xs = x / s;
        return ((model(xs, sigma) - xs) / (s * sigma * sigma)).MoveToOuterDisposeScope();
    }

    /// <summary>Probability-flow ODE right-hand side dx/dt = f·x − ½g²·∇ₓlog pₜ(x) (EDM eq. 4).</summary>
    public static torch.Tensor ProbabilityFlow(Schedule schedule, Denoiser model, torch.Tensor x, double t)
    {
        double f = DriftCoefficient(schedule, t), g = Diffusion(schedule, t);
        using var score = Score(schedule, model, x, t);
        return x * f - score * (0.5 * g * g);
    }

    /// <summary>Reverse-time SDE drift f·x − g²·∇ₓlog pₜ(x) (Song et al. eq. 6); the noise term is g dω̄.</summary>
    public static torch.Tensor ReverseDrift(Schedule schedule, Denoiser model, torch.Tensor x, double t)
    {
        double f = DriftCoefficient(schedule, t), g = Diffusion(schedule, t);
        using var score = Score(schedule, model, x, t);
        return x * f - score * (g * g);
    }
}
