using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Preconditioning;
using Tessera.Runtime;

namespace Tessera.Diffusion.Models;

/// <summary>
/// A trainable denoiser D(x; σ, class): the network (<c>net.*</c> in state dicts) under its formulation's
/// preconditioning, D = c_skip·x + c_out·F(c_in·x; c_noise) (Karras et al. 2022, eq. 7), or for flow matching
/// D from the predicted velocity.
/// </summary>
public sealed class DiffusionModel : torch.nn.Module
{
    private readonly torch.nn.Module net;
    private readonly Preconditioner? _precond;

    /// <summary>The configuration.</summary>
    public DiffusionModelConfig Config { get; }

    /// <summary>Builds the model (random weights) for <paramref name="config"/>.</summary>
    public DiffusionModel(DiffusionModelConfig config) : base(nameof(DiffusionModel))
    {
        Config = config;
        net = config.Kind == NetworkKind.DiT ? new DiT(config.DiT!) : new UNet(config.UNet!);
        _precond = config.Formulation switch
        {
            Formulation.Edm => new EdmPrecond(config.SigmaData),
            Formulation.Vp => new VpPrecond(),
            Formulation.Ve => new VePrecond(),
            _ => null,
        };
        RegisterComponents();
    }

    // The network's output in the sampler's type (float32) for an input in it: at a lower precision (issue 28) the
    // input is rounded to the network's type on the way in, the noise labels stay float32 (the networks compute their
    // sinusoidal or Fourier embedding from them in float32 and round it once), and the output leaves in float32.
    private torch.Tensor Net(torch.Tensor x, torch.Tensor noiseLabels, torch.Tensor? classes)
    {
        if (Precision == Precision.Float32) return NetForward(x, noiseLabels, classes);
        using var scope = torch.NewDisposeScope();
        return NetForward(x.to(PrecisionInfo.ScalarType(Precision)), noiseLabels, classes).to(x.dtype).MoveToOuterDisposeScope();
    }

    private torch.Tensor NetForward(torch.Tensor x, torch.Tensor noiseLabels, torch.Tensor? classes) => net switch
    {
        DiT d => d.forward(x, noiseLabels, classes),
        UNet u => u.forward(x, noiseLabels, classes),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>
    /// The number format the network runs at (issue 28): float32, or after <see cref="UsePrecision"/> bfloat16/float16
    /// weights and activations, with the preconditioning, the noise-level embedding's sinusoids and the denoiser's
    /// output in float32 (the sampler's state and σ arithmetic never leave float32).
    /// </summary>
    public Precision Precision { get; private set; }

    /// <summary>
    /// Converts the network's layers in place to <paramref name="precision"/> (tensors held by a network itself, such as
    /// Fourier frequencies, stay float32). Float32 leaves a float32 model alone. A lower precision cannot be undone
    /// (the weights are rounded): asking a converted model for another precision is an error.
    /// </summary>
    /// <exception cref="TesseraUserException">The model was converted to another precision already (parameter <c>precision</c>).</exception>
    public void UsePrecision(Precision precision)
    {
        if (precision == Precision) return;
        if (Precision != Precision.Float32)
            throw new TesseraUserException(nameof(precision),
                $"{EnumNames.Name(precision)}: the diffusion model was converted to {EnumNames.Name(Precision)} already (its weights are rounded); load the model again for another precision");
        PrecisionInfo.ApplyToLayers(net, precision);
        Precision = precision;
    }

    /// <summary>Per-sample coefficients [B] of the preconditioning at σ [B] (float64 on the CPU).</summary>
    public (torch.Tensor CSkip, torch.Tensor COut, torch.Tensor CIn, torch.Tensor CNoise, torch.Tensor Weight) Coefficients(double[] sigmas)
    {
        var c = sigmas.Select(s => _precond!.At(s)).ToArray();
        return (torch.tensor(c.Select(v => v.CSkip).ToArray()), torch.tensor(c.Select(v => v.COut).ToArray()), torch.tensor(c.Select(v => v.CIn).ToArray()),
            torch.tensor(c.Select(v => v.CNoise).ToArray()), torch.tensor(c.Select(v => v.LossWeight).ToArray()));
    }

    /// <summary>D(x; σ) for x [B, C, H, W] at per-sample σ (unscaled x = x₀ + σε).</summary>
    public torch.Tensor Denoise(torch.Tensor x, double[] sigmas, torch.Tensor? classes)
    {
        using var scope = torch.NewDisposeScope();
        var device = x.device;
        torch.Tensor V(torch.Tensor t) => t.to(x.dtype).to(device).view(-1, 1, 1, 1);
        if (_precond is null)
        {
            // Flow matching: t = σ/(1 + σ), x_t = x/(1 + σ), D = (x − σ·u)/(1 + σ).
            var sig = torch.tensor(sigmas);
            var t = sig / (sig + 1);
            var u = Net(x / V(sig + 1), t.to(x.dtype).to(device), classes);
            return ((x - V(sig) * u) / V(sig + 1)).MoveToOuterDisposeScope();
        }
        var (cSkip, cOut, cIn, cNoise, _) = Coefficients(sigmas);
        var f = Net(x * V(cIn), cNoise.to(x.dtype).to(device), classes);
        return (V(cSkip) * x + V(cOut) * f).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The sampler-facing denoiser at one σ for the whole batch, with classifier-free guidance when
    /// <paramref name="guidance"/> ≠ 1 and classes are given: D = D_uncond + w·(D_cond − D_uncond).
    /// </summary>
    public Denoiser AsDenoiser(torch.Tensor? classes, double guidance = 1)
    {
        return (x, sigma) =>
        {
            var sigmas = Enumerable.Repeat(sigma, (int)x.shape[0]).ToArray();
            if (classes is null || guidance == 1 || Config.Classes == 0) return Denoise(x, sigmas, classes);
            using var scope = torch.NewDisposeScope();
            var both = Denoise(torch.cat([x, x]), [.. sigmas, .. sigmas], torch.cat([classes, torch.full_like(classes, Config.Classes)]));
            var parts = both.chunk(2);
            return (parts[1] + (parts[0] - parts[1]) * guidance).MoveToOuterDisposeScope();
        };
    }

    /// <summary>Saves weights as safetensors with the configuration (metadata <see cref="Tessera.Training.CheckpointMetadata"/>), atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        Checkpoint.Save(this, path, Tessera.Training.CheckpointMetadata.For(Tessera.Training.ModelKind.Diffusion, Config.ToJson(), metadata));

    /// <summary>
    /// Loads a model saved by <see cref="Save"/> (or the EMA weights of a training checkpoint) onto
    /// <paramref name="device"/>, as <c>SamModel.Load</c> and <c>SegmentationModel.Load</c> do.
    /// </summary>
    /// <param name="path">A safetensors file of Tessera's diffusion trainer.</param>
    /// <param name="device">Where the model goes (default: the CPU).</param>
    /// <exception cref="TesseraFormatException">Not a diffusion checkpoint, or tensors that do not fit (named).</exception>
    public static DiffusionModel Load(string path, torch.Device? device = null)
    {
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        var header = SafeTensors.ReadHeader(path);
        string json = Tessera.Training.CheckpointMetadata.ModelConfig(header.Metadata, Tessera.Training.ModelKind.Diffusion)
            ?? throw new TesseraFormatException(path, "not a diffusion checkpoint of Tessera (no diffusion model configuration in its metadata)");
        var model = new DiffusionModel(DiffusionModelConfig.FromJson(json, path));
        try
        {
            using var file = SafeTensors.Load(path);
            // A training checkpoint holds model./ema./optimizer; sample from the EMA weights.
            var tensors = file.Tensors.Keys.Any(k => k.StartsWith("ema.", StringComparison.Ordinal))
                ? file.Tensors.Where(kv => kv.Key.StartsWith("ema.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[4..], kv => kv.Value)
                : file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
            tensors = Checkpoint.UpgradeLegacy(model, tensors);
            var state = model.state_dict();
            Checkpoint.Validate(path, state, tensors);
            using (torch.no_grad()) foreach (var (k, v) in state) v.copy_(tensors[k]);
            if (device is not null) model.to(device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
