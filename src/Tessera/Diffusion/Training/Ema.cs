namespace Tessera.Diffusion.Training;

/// <summary>
/// Exponential moving average of weights with EDM's half-life schedule (Karras et al. 2022, App. D.2;
/// NVlabs/edm training_loop.py): after each step, β = 0.5^(batch / h) with half-life h (in images) =
/// min(h_max, ramp·images seen), and ema ← p + β·(ema − p) for every parameter and buffer.
/// </summary>
public static class Ema
{
    /// <summary>β for one step of <paramref name="batch"/> images after <paramref name="imagesSeen"/> images (counting this step's).</summary>
    public static double Beta(long batch, long imagesSeen, double halfLifeImages, double rampRatio = 0.05)
    {
        double h = rampRatio > 0 ? Math.Min(halfLifeImages, imagesSeen * rampRatio) : halfLifeImages;
        return Math.Pow(0.5, batch / Math.Max(h, 1e-8));
    }

    /// <summary>ema ← p + β·(ema − p), tensor by tensor (state dicts with the same names).</summary>
    public static void Update(torch.nn.Module ema, torch.nn.Module model, double beta)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var source = model.state_dict();
        foreach (var (name, target) in ema.state_dict())
        {
            var p = source[name];
            if (!target.is_floating_point()) { target.copy_(p); continue; }
            target.copy_(torch.lerp(p, target, beta));
        }
    }
}
