namespace Tessera.Diffusion.Preconditioning;

/// <summary>What a network predicts.</summary>
public enum PredictionType
{
    /// <summary>The clean data x₀ (the denoiser itself).</summary>
    X0,
    /// <summary>The noise ε (DDPM).</summary>
    Epsilon,
    /// <summary>v = α·ε − σ_vp·x₀ in VP coordinates (Salimans and Ho 2022).</summary>
    V,
    /// <summary>The score ∇log p(x; σ).</summary>
    Score,
    /// <summary>The rectified-flow velocity ε − x₀ (flow matching).</summary>
    FlowVelocity,
}

/// <summary>
/// Converts any prediction, made on the unscaled x = x₀ + σε at noise level σ, to the denoiser D(x; σ)
/// and back: x₀ → D; ε → D = x − σε; score → D = x + σ²·score; v (with ᾱ = 1/(1+σ²), α = √ᾱ, σ_vp = σα)
/// → D = α·(α·x) − σ_vp·v; flow velocity u = ε − x₀ → D = (x − σu)/(1 + σ).
/// </summary>
public static class Predictions
{
    /// <summary>D(x; σ) from a prediction of the given type.</summary>
    public static torch.Tensor ToDenoised(PredictionType type, torch.Tensor prediction, torch.Tensor x, double sigma)
    {
        double alpha = 1 / Math.Sqrt(1 + sigma * sigma), sigmaVp = sigma * alpha;
        return type switch
        {
            PredictionType.X0 => prediction.alias(),
            PredictionType.Epsilon => x - prediction * sigma,
            PredictionType.Score => x + prediction * (sigma * sigma),
            PredictionType.V => x * (alpha * alpha) - prediction * sigmaVp,
            PredictionType.FlowVelocity => (x - prediction * sigma) / (1 + sigma),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>The prediction of the given type that corresponds to D(x; σ).</summary>
    public static torch.Tensor FromDenoised(PredictionType type, torch.Tensor denoised, torch.Tensor x, double sigma)
    {
        double alpha = 1 / Math.Sqrt(1 + sigma * sigma), sigmaVp = sigma * alpha;
        return type switch
        {
            PredictionType.X0 => denoised.alias(),
            PredictionType.Epsilon => (x - denoised) / sigma,
            PredictionType.Score => (denoised - x) / (sigma * sigma),
            // v = α·ε − σ_vp·x₀ with ε = (x − D)/σ
            PredictionType.V => (x - denoised) / sigma * alpha - denoised * sigmaVp,
            PredictionType.FlowVelocity => (x - denoised) / sigma - denoised,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>A denoiser from a network that predicts <paramref name="type"/> given (x, σ).</summary>
    public static Denoiser AsDenoiser(PredictionType type, Func<torch.Tensor, double, torch.Tensor> network) => (x, sigma) =>
    {
        using var p = network(x, sigma);
        return ToDenoised(type, p, x, sigma);
    };
}
