namespace Tessera.Diffusion.Models;

/// <summary>The training formulation: how noise levels are drawn, how the network is wrapped, and its loss.</summary>
public enum Formulation
{
    /// <summary>EDM (Karras et al. 2022, Table 1): log-normal σ, preconditioning with σ_data, λ(σ) = (σ² + σ_d²)/(σ·σ_d)².</summary>
    Edm,
    /// <summary>VP (DDPM++ in the EDM framework): σ from uniform t, ε-prediction scaling, λ = 1/σ².</summary>
    Vp,
    /// <summary>VE (NCSN++ in the EDM framework): log-uniform σ, λ = 1/σ².</summary>
    Ve,
    /// <summary>Flow matching / rectified flow (Lipman et al. 2023; Liu et al. 2023): x_t = (1 − t)x₀ + tε, velocity ε − x₀, logit-normal t.</summary>
    Flow,
}
