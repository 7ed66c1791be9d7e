using Tessera.Attention;
using Tessera.Positional;
using static TorchSharp.torch.nn;
using GroupNorm = Tessera.Layers.GroupNorm;

namespace Tessera.Diffusion.Networks;

/// <summary>Settings of <see cref="UNet"/>.</summary>
/// <param name="InChannels">Image channels.</param>
/// <param name="BaseChannels">Channels at full resolution.</param>
/// <param name="Multipliers">Channel multiplier per level (each level after the first halves the resolution).</param>
/// <param name="ResBlocks">Residual blocks per level on the way down (one more on the way up).</param>
/// <param name="AttentionResolutions">Resolutions (side in pixels) with self-attention after each block.</param>
/// <param name="Groups">GroupNorm groups.</param>
/// <param name="TimeChannels">Sinusoidal embedding width of the noise level or timestep.</param>
/// <param name="EmbedChannels">Width of the conditioning embedding after its MLP.</param>
/// <param name="Dropout">Dropout inside residual blocks.</param>
/// <param name="ImageSize">Input side (needed to place attention).</param>
/// <param name="Classes">Class labels for conditioning (0: unconditional); label Classes is the null label for guidance.</param>
/// <param name="FourierEmbedding">Random Fourier features of the noise level (NCSN++/EDM's FourierEmbedding) instead of the sinusoidal table.</param>
/// <param name="FourierScale">Standard deviation of the Fourier frequencies (EDM: 16).</param>
public sealed record UNetConfig(int InChannels = 1, int BaseChannels = 32, int[]? Multipliers = null, int ResBlocks = 2, int[]? AttentionResolutions = null,
    int Groups = 8, int TimeChannels = 32, int EmbedChannels = 128, double Dropout = 0, int ImageSize = 28, int Classes = 0,
    bool FourierEmbedding = false, double FourierScale = 16)
{
    /// <summary>Multipliers, default 1-2-4.</summary>
    public int[] Mult => Multipliers ?? [1, 2, 4];

    /// <summary>Attention resolutions, default 7.</summary>
    public int[] Attention => AttentionResolutions ?? [7];

    /// <summary>
    /// A U-Net sized by its width alone, as <c>tessera diffusion train</c> builds it: two residual blocks per level,
    /// GroupNorm with min(8, width / 4) groups, a 32-channel noise-level table and a 4 × width conditioning embedding.
    /// </summary>
    /// <param name="inChannels">Image channels.</param>
    /// <param name="imageSize">Image side.</param>
    /// <param name="baseChannels">Channels at full resolution (a multiple of 16).</param>
    /// <param name="multipliers">Channel multiplier per level (default 1, 2, 4).</param>
    /// <param name="attentionResolutions">Resolutions with self-attention (default 7).</param>
    /// <param name="dropout">Dropout inside residual blocks.</param>
    /// <param name="classes">Class labels (0: unconditional).</param>
    /// <param name="fourierEmbedding">Random Fourier features of the noise level instead of the sinusoidal table.</param>
    public static UNetConfig FromWidth(int inChannels, int imageSize, int baseChannels = 32, int[]? multipliers = null, int[]? attentionResolutions = null,
        double dropout = 0, int classes = 0, bool fourierEmbedding = false) =>
        new(inChannels, baseChannels, multipliers ?? [1, 2, 4], 2, attentionResolutions ?? [7], Math.Min(8, baseChannels / 4), 32, 4 * baseChannels,
            dropout, imageSize, classes, fourierEmbedding);

    /// <summary>
    /// The small class-conditional U-Net of <c>tessera quickstart</c> for 28 × 28 gray images: width 32, two levels
    /// (1, 2), one residual block per level, no attention, 10 classes. Trains in minutes on a CPU.
    /// </summary>
    public static UNetConfig SmallFashionMnist { get; } = new(1, 32, [1, 2], 1, [], 8, 32, 128, 0, 28, 10);
}

/// <summary>
/// A DDPM-family U-Net (Ho et al. 2020, App. B; Dhariwal and Nichol 2021 for class embeddings): residual blocks
/// with GroupNorm, SiLU and an additive embedding of the noise level, self-attention at chosen resolutions,
/// strided-convolution downsampling, nearest-neighbour upsampling with a convolution, skip connections by
/// concatenation. forward(x, t) returns a tensor shaped like x; what it predicts (ε, x₀, v, …) is decided by how
/// it is trained and wrapped (<see cref="Preconditioning.Predictions"/>).
/// </summary>
public sealed class UNet : Module<torch.Tensor, torch.Tensor, torch.Tensor>, ILegacyTensors
{
    private readonly Sequential timeMlp;
    private readonly torch.Tensor? fourier_freqs;
    private readonly Embedding? classEmbed;
    private readonly Conv2d convIn;
    private readonly ModuleList<Module> down;
    private readonly ModuleList<Module> mid;
    private readonly ModuleList<Module> up;
    private readonly GroupNorm normOut;
    private readonly Conv2d convOut;
    private readonly UNetConfig _c;
    private readonly int _outChannels;

    /// <summary>The configuration.</summary>
    public UNetConfig Config => _c;

    /// <summary>Builds the network.</summary>
    public UNet(UNetConfig config) : base(nameof(UNet))
    {
        _c = config;
        int ch = config.BaseChannels, emb = config.EmbedChannels;
        timeMlp = Sequential(Linear(config.TimeChannels, emb), SiLU(), Linear(emb, emb));
        if (config.FourierEmbedding) fourier_freqs = torch.randn(config.TimeChannels / 2) * config.FourierScale;
        if (config.Classes > 0) classEmbed = Embedding(config.Classes + 1, emb);
        convIn = Conv2d(config.InChannels, ch, 3, padding: 1);
        var downList = new List<Module>();
        var skips = new List<int> { ch };
        int res = config.ImageSize, cur = ch;
        for (int level = 0; level < config.Mult.Length; level++)
        {
            int outCh = ch * config.Mult[level];
            for (int b = 0; b < config.ResBlocks; b++)
            {
                downList.Add(new ResBlock(cur, outCh, emb, config.Groups, config.Dropout));
                cur = outCh;
                if (config.Attention.Contains(res)) downList.Add(new SelfAttention(cur, config.Groups));
                skips.Add(cur);
            }
            if (level < config.Mult.Length - 1)
            {
                downList.Add(new Downsample(cur));
                res = (res + 1) / 2;
                skips.Add(cur);
            }
        }
        down = new ModuleList<Module>(downList.ToArray());
        mid = new ModuleList<Module>(new ResBlock(cur, cur, emb, config.Groups, config.Dropout), new SelfAttention(cur, config.Groups), new ResBlock(cur, cur, emb, config.Groups, config.Dropout));
        var upList = new List<Module>();
        for (int level = config.Mult.Length - 1; level >= 0; level--)
        {
            int outCh = ch * config.Mult[level];
            for (int b = 0; b < config.ResBlocks + 1; b++)
            {
                int skip = skips[^1];
                skips.RemoveAt(skips.Count - 1);
                upList.Add(new ResBlock(cur + skip, outCh, emb, config.Groups, config.Dropout));
                cur = outCh;
                if (config.Attention.Contains(res)) upList.Add(new SelfAttention(cur, config.Groups));
            }
            if (level > 0)
            {
                upList.Add(new Upsample(cur));
                res *= 2;
            }
        }
        up = new ModuleList<Module>(upList.ToArray());
        normOut = new GroupNorm(config.Groups, cur);
        convOut = Conv2d(cur, config.InChannels, 3, padding: 1);
        _outChannels = PaddedOutChannels(config.InChannels);
        RegisterComponents();
    }

    /// <summary>
    /// Sinusoidal embedding of noise labels t [B] (Vaswani et al. §3.5 as DDPM uses it): [cos ‖ sin] of t·ωᵢ,
    /// ωᵢ = 10000^(−i/(d/2)); the table of <see cref="Sinusoidal"/> at positions t, computed in float64.
    /// </summary>
    public static torch.Tensor TimestepEmbedding(torch.Tensor t, int dim) =>
        Sinusoidal.Table(t, dim, SinusoidLayout.CosineFirst);

    /// <summary>Random Fourier features (Tancik et al. 2020; NCSN++ and EDM's FourierEmbedding): [cos ‖ sin] of 2π·t·fᵢ.</summary>
    public static torch.Tensor FourierFeatures(torch.Tensor t, torch.Tensor frequencies)
    {
        using var scope = torch.NewDisposeScope();
        var args = t.to(torch.ScalarType.Float32).unsqueeze(1) * (frequencies.to(torch.ScalarType.Float32) * (2 * Math.PI)).unsqueeze(0);
        return torch.cat([args.cos(), args.sin()], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Predicts from x [B, C, H, W] at noise labels t [B] (and class labels, when class-conditional).</summary>
    public torch.Tensor forward(torch.Tensor x, torch.Tensor t, torch.Tensor? classes)
    {
        using var scope = torch.NewDisposeScope();
        var emb = timeMlp.forward((fourier_freqs is null ? TimestepEmbedding(t, _c.TimeChannels) : FourierFeatures(t, fourier_freqs)).to(x.dtype));
        if (classEmbed is not null)
            emb = emb + classEmbed.forward(classes ?? torch.full([x.shape[0]], (long)_c.Classes, device: x.device));
        var h = convIn.forward(x);
        var hs = new List<torch.Tensor> { h };
        foreach (var m in down)
        {
            h = Apply(m, h, emb);
            // The skip of a level is taken after its attention, when it has one.
            if (m is SelfAttention) hs[^1] = h;
            else hs.Add(h);
        }
        foreach (var m in mid) h = Apply(m, h, emb);
        foreach (var m in up)
        {
            if (m is ResBlock)
            {
                var skip = hs[^1];
                hs.RemoveAt(hs.Count - 1);
                h = torch.cat([h, skip], 1);
            }
            h = Apply(m, h, emb);
        }
        return OutputConvolution(functional.silu(normOut.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The output convolution, run with its output channels padded by zero filters to a multiple of 16 and
    /// sliced back: libtorch 2.10's oneDNN gives NaN gradients behind convolutions with very few output
    /// channels on AVX-512 CPUs (docs/known-issues.md). The padding exists only inside this call: the
    /// parameters, the parameter count and checkpoints hold the architecture's own shapes.
    /// </summary>
    private torch.Tensor OutputConvolution(torch.Tensor h)
    {
        int pad = _outChannels - _c.InChannels;
        if (pad == 0) return convOut.forward(h);
        using var scope = torch.NewDisposeScope();
        var w = convOut.weight!;
        var weight = torch.cat([w, torch.zeros([pad, w.shape[1], w.shape[2], w.shape[3]], w.dtype, w.device)], 0);
        var bias = torch.cat([convOut.bias!, torch.zeros([pad], w.dtype, w.device)], 0);
        var y = functional.conv2d(h, weight, bias, padding: [1, 1]);
        return y[.., .._c.InChannels].MoveToOuterDisposeScope();
    }

    private static int PaddedOutChannels(int channels) => (channels + 15) / 16 * 16;

    /// <summary>
    /// Checkpoints written before the padding became internal hold <c>convOut</c> with the padded output
    /// channels; their first <see cref="UNetConfig.InChannels"/> filters are the network's (the rest only
    /// ever produced sliced-off outputs), so they are kept and the rest dropped.
    /// </summary>
    void ILegacyTensors.UpgradeLegacyTensors(IDictionary<string, torch.Tensor> tensors, string prefix)
    {
        int padded = PaddedOutChannels(_c.InChannels);
        foreach (string name in new[] { "convOut.weight", "convOut.bias" })
        {
            if (tensors.TryGetValue(prefix + name, out var t) && t.dim() >= 1 && t.shape[0] == padded && padded != _c.InChannels)
                tensors[prefix + name] = t[.._c.InChannels];
        }
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x, torch.Tensor t) => forward(x, t, null);

    private static torch.Tensor Apply(Module m, torch.Tensor h, torch.Tensor emb) => m switch
    {
        ResBlock r => r.forward(h, emb),
        SelfAttention a => a.forward(h),
        Downsample d => d.forward(h),
        Upsample u => u.forward(h),
        _ => throw new InvalidOperationException(m.GetType().Name),
    };
}

/// <summary>GN → SiLU → conv → + emb → GN → SiLU → dropout → conv, plus a 1×1 skip when the width changes.</summary>
internal sealed class ResBlock : Module<torch.Tensor, torch.Tensor, torch.Tensor>
{
    private readonly GroupNorm norm1, norm2;
    private readonly Conv2d conv1, conv2;
    private readonly Linear embProj;
    private readonly Dropout? drop;
    private readonly Conv2d? skip;

    public ResBlock(int inCh, int outCh, int emb, int groups, double dropout) : base(nameof(ResBlock))
    {
        norm1 = new GroupNorm(groups, inCh);
        conv1 = Conv2d(inCh, outCh, 3, padding: 1);
        embProj = Linear(emb, outCh);
        norm2 = new GroupNorm(groups, outCh);
        if (dropout > 0) drop = Dropout(dropout);
        conv2 = Conv2d(outCh, outCh, 3, padding: 1);
        if (inCh != outCh) skip = Conv2d(inCh, outCh, 1);
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor x, torch.Tensor emb)
    {
        // A scope per block: intermediates that backward does not keep are freed here, not at the end of the
        // whole forward pass (autograd holds its own references to what it needs).
        using var scope = torch.NewDisposeScope();
        // In place where autograd keeps nothing of the operand (a convolution keeps its input, not its output).
        var h = conv1.forward(functional.silu(norm1.forward(x)));
        h.add_(embProj.forward(functional.silu(emb)).unsqueeze(-1).unsqueeze(-1));
        var a = functional.silu(norm2.forward(h));
        h = conv2.forward(drop is null ? a : drop.forward(a));
        return h.add_(skip is null ? x : skip.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Single-head self-attention over the pixels, GN first, residual (Ho et al. 2020, App. B): x + Attn(GN(x)) with the
/// H·W pixels as tokens, through the library's shared attention block (keys <c>attn.qkv</c>, <c>attn.proj</c>).
/// </summary>
internal sealed class SelfAttention : Module<torch.Tensor, torch.Tensor>, ILegacyTensors
{
    private readonly GroupNorm norm;
    private readonly MultiHeadAttention attn;

    public SelfAttention(int ch, int groups) : base(nameof(SelfAttention))
    {
        norm = new GroupNorm(groups, ch);
        attn = new MultiHeadAttention(ch, 1, causal: false);
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var tokens = norm.forward(x).flatten(2).transpose(1, 2); // [B, H·W, C]
        var o = attn.Attend(tokens).transpose(1, 2).reshape(b, c, h, w);
        return (x + o).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Checkpoints written before the shared block hold <c>qkv</c> and <c>proj</c> as 1×1 convolutions directly in
    /// this module; a 1×1 convolution's weight [out, in, 1, 1] is the linear layer's [out, in].
    /// </summary>
    void ILegacyTensors.UpgradeLegacyTensors(IDictionary<string, torch.Tensor> tensors, string prefix)
    {
        foreach (string layer in new[] { "qkv", "proj" })
        {
            if (tensors.Remove(prefix + layer + ".weight", out var weight)) tensors.TryAdd(prefix + "attn." + layer + ".weight", weight.dim() == 4 ? weight.flatten(1) : weight);
            if (tensors.Remove(prefix + layer + ".bias", out var bias)) tensors.TryAdd(prefix + "attn." + layer + ".bias", bias);
        }
    }
}

/// <summary>3×3 convolution with stride 2.</summary>
internal sealed class Downsample : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d conv;

    public Downsample(int ch) : base(nameof(Downsample))
    {
        conv = Conv2d(ch, ch, 3, stride: 2, padding: 1);
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor x) => conv.forward(x);
}

/// <summary>Nearest-neighbour ×2 then a 3×3 convolution.</summary>
internal sealed class Upsample : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d conv;

    public Upsample(int ch) : base(nameof(Upsample))
    {
        conv = Conv2d(ch, ch, 3, padding: 1);
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor x) =>
        conv.forward(functional.interpolate(x, scale_factor: [2.0, 2.0], mode: torch.InterpolationMode.Nearest));
}
