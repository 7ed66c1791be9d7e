using Tessera.Attention;
using Tessera.Layers;
using Tessera.Positional;
using static TorchSharp.torch.nn;

namespace Tessera.Diffusion.Networks;

/// <summary>How DiT tokens learn where they are.</summary>
public enum DiTPosition
{
    /// <summary>2-D rotary embedding of queries and keys (RoPE-Axial, Heo et al. 2024).</summary>
    [JsonStringEnumMemberName("rope")] Rope2D,
    /// <summary>A fixed 2-D sin-cos table added to the tokens (as the DiT paper, after MAE).</summary>
    [JsonStringEnumMemberName("sincos")] SinCos,
}

/// <summary>Settings of <see cref="DiT"/>.</summary>
/// <param name="InChannels">Image channels.</param>
/// <param name="ImageSize">Image side (a multiple of the patch size).</param>
/// <param name="PatchSize">Patch side.</param>
/// <param name="Hidden">Token width.</param>
/// <param name="Depth">Transformer blocks.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="MlpRatio">MLP hidden width over token width.</param>
/// <param name="Classes">Class labels for conditioning (0: unconditional); label Classes is the null label.</param>
/// <param name="Position">RoPE or the sin-cos table.</param>
/// <param name="FrequencyChannels">Sinusoidal width of the noise-level embedding.</param>
public sealed record DiTConfig(int InChannels = 1, int ImageSize = 28, int PatchSize = 2, int Hidden = 256, int Depth = 6, int Heads = 4,
    double MlpRatio = 4, int Classes = 0, DiTPosition Position = DiTPosition.Rope2D, int FrequencyChannels = 256)
{
    /// <summary>Token grid side.</summary>
    public int Grid => ImageSize / PatchSize;

    /// <summary>
    /// A DiT sized by its width and depth, as <c>tessera diffusion train</c> builds it: heads of 64 channels (at
    /// least one) and an MLP four times the width.
    /// </summary>
    /// <param name="inChannels">Image channels.</param>
    /// <param name="imageSize">Image side (a multiple of <paramref name="patchSize"/>).</param>
    /// <param name="patchSize">Patch side.</param>
    /// <param name="hidden">Token width.</param>
    /// <param name="depth">Transformer blocks.</param>
    /// <param name="classes">Class labels (0: unconditional).</param>
    /// <param name="position">RoPE or the sin-cos table.</param>
    /// <exception cref="TesseraUserException">The patch size does not divide the image size.</exception>
    public static DiTConfig FromWidth(int inChannels, int imageSize, int patchSize = 2, int hidden = 256, int depth = 6, int classes = 0,
        DiTPosition position = DiTPosition.Rope2D)
    {
        if (patchSize < 1 || imageSize % patchSize != 0)
            throw new TesseraUserException(nameof(patchSize), $"{patchSize} does not divide the image size {imageSize}");
        return new(inChannels, imageSize, patchSize, hidden, depth, Math.Max(1, hidden / 64), 4, classes, position);
    }
}

/// <summary>
/// Diffusion Transformer (Peebles and Xie 2023, "Scalable Diffusion Models with Transformers", §3.2): patchify,
/// transformer blocks conditioned by adaptive LayerNorm with zero-initialised gates (adaLN-Zero) on the sum of
/// the noise-level and class embeddings, a final adaptive LayerNorm and linear layer, unpatchify. forward(x, t)
/// returns a tensor shaped like x.
/// </summary>
public sealed class DiT : Module<torch.Tensor, torch.Tensor, torch.Tensor>, ILegacyTensors
{
    private readonly Conv2d x_embedder;
    private readonly Sequential t_embedder;
    private readonly Embedding? y_embedder;
    private readonly ModuleList<DiTBlock> blocks;
    private readonly LayerNorm norm_final;
    private readonly Linear final_linear;
    private readonly Sequential final_modulation;
    private readonly DiTConfig _c;
    private readonly int _outChannels;

    /// <summary>The configuration.</summary>
    public DiTConfig Config => _c;

    /// <summary>Builds the network (adaLN gates and the output layer start at zero, so it starts as the zero function).</summary>
    public DiT(DiTConfig config) : base(nameof(DiT))
    {
        if (config.ImageSize % config.PatchSize != 0) throw new TesseraUserException(nameof(config.PatchSize), $"image size {config.ImageSize} is not a multiple of patch size {config.PatchSize}");
        if (config.Hidden % config.Heads != 0) throw new TesseraUserException(nameof(config.Heads), $"width {config.Hidden} does not split into {config.Heads} heads");
        if (config.Position == DiTPosition.Rope2D && (config.Hidden / config.Heads) % 4 != 0) throw new TesseraUserException(nameof(config.Heads), "2-D RoPE needs a head width that is a multiple of 4");
        _c = config;
        int d = config.Hidden;
        _outChannels = PaddedOutChannels(config.InChannels);
        x_embedder = Conv2d(config.InChannels, d, config.PatchSize, stride: config.PatchSize);
        t_embedder = Sequential(("0", Linear(config.FrequencyChannels, d)), ("1", SiLU()), ("2", Linear(d, d)));
        if (config.Classes > 0) y_embedder = Embedding(config.Classes + 1, d);
        blocks = new ModuleList<DiTBlock>([.. Enumerable.Range(0, config.Depth).Select(_ => new DiTBlock(d, config.Heads, config.MlpRatio))]);
        norm_final = LayerNorm(d, eps: 1e-6, elementwise_affine: false);
        final_linear = Linear(d, config.PatchSize * config.PatchSize * config.InChannels);
        final_modulation = Sequential(("0", SiLU()), ("1", Linear(d, 2 * d)));
        RegisterComponents();
        using (torch.no_grad())
        {
            foreach (var p in new[] { final_linear.weight!, final_linear.bias!, ((Linear)final_modulation[1]).weight!, ((Linear)final_modulation[1]).bias! }) p.zero_();
        }
    }

    /// <summary>
    /// Fixed 2-D sin-cos table [T, d] (DiT/MAE): the first d/2 channels encode the column, the rest the row,
    /// each as [sin ‖ cos] of position·ωᵢ with ωᵢ = 10000^(−i/(d/4)).
    /// </summary>
    public static torch.Tensor SinCosTable(int grid, int dim, torch.Device? device = null)
    {
        if (dim % 4 != 0) throw new ArgumentException($"a 2-D sin-cos table needs a width that is a multiple of 4, got {dim}", nameof(dim));
        using var scope = torch.NewDisposeScope();
        var pos = Rope2D.GridPositions(grid, grid, device);
        // Each axis is Sinusoidal's [sin ‖ cos] table of width d/2, so ωᵢ = 10000^(−2i/(d/2)) = 10000^(−i/(d/4)).
        torch.Tensor Axis(torch.Tensor p) => Sinusoidal.Table(p, dim / 2, SinusoidLayout.Concatenated, dtype: torch.ScalarType.Float64);
        return torch.cat([Axis(pos[.., 0]), Axis(pos[.., 1])], 1).to(torch.ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Sinusoidal embedding of noise labels [B] into <paramref name="dim"/> channels: [cos ‖ sin] of t·10000^(−i/(d/2)).</summary>
    public static torch.Tensor NoiseEmbedding(torch.Tensor t, int dim) => UNet.TimestepEmbedding(t, dim);

    /// <summary>Predicts from x [B, C, H, W] at noise labels t [B] (and class labels, when class-conditional).</summary>
    public torch.Tensor forward(torch.Tensor x, torch.Tensor t, torch.Tensor? classes)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        int g = _c.Grid, p = _c.PatchSize;
        var tokens = x_embedder.forward(x).flatten(2).transpose(1, 2); // [B, T, D]
        torch.Tensor? cos = null, sin = null;
        if (_c.Position == DiTPosition.SinCos) tokens = tokens + SinCosTable(g, _c.Hidden, x.device).to(tokens.dtype);
        else
        {
            var angles = Rope2D.AxialAngles(Rope2D.GridPositions(g, g, x.device), _c.Hidden / _c.Heads);
            (cos, sin) = Rope2D.FromAngles(angles, x.dtype);
        }
        var c = t_embedder.forward(NoiseEmbedding(t, _c.FrequencyChannels).to(x.dtype));
        if (y_embedder is not null)
            c = c + y_embedder.forward(classes ?? torch.full([b], (long)_c.Classes, device: x.device));
        foreach (var block in blocks) tokens = block.forward(tokens, c, cos, sin);
        var mod = final_modulation.forward(c).chunk(2, 1);
        tokens = DiTBlock.Modulate(norm_final.forward(tokens), mod[0], mod[1]);
        var patches = FinalLinear(tokens); // [B, T, p·p·C']
        var img = patches.reshape(b, g, g, p, p, _outChannels).permute(0, 5, 1, 3, 2, 4).reshape(b, _outChannels, g * p, g * p);
        return img[.., .._c.InChannels].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The final linear layer, run with its outputs padded by zero rows to 16 channels per pixel (C') and the
    /// padding sliced off after unpatchifying: narrow layers on oneDNN (docs/known-issues.md), as the U-Net's
    /// output convolution. The padding exists only inside this call: the parameters, the parameter count and
    /// checkpoints hold the architecture's own p·p·C outputs.
    /// </summary>
    private torch.Tensor FinalLinear(torch.Tensor tokens)
    {
        int pad = _outChannels - _c.InChannels;
        if (pad == 0) return final_linear.forward(tokens);
        using var scope = torch.NewDisposeScope();
        long pp = _c.PatchSize * _c.PatchSize;
        var w = final_linear.weight!.view(pp, _c.InChannels, -1);
        var weight = torch.cat([w, torch.zeros([pp, pad, w.shape[2]], w.dtype, w.device)], 1).view(pp * _outChannels, -1);
        var b = final_linear.bias!.view(pp, _c.InChannels);
        var bias = torch.cat([b, torch.zeros([pp, pad], b.dtype, b.device)], 1).view(pp * _outChannels);
        return functional.linear(tokens, weight, bias).MoveToOuterDisposeScope();
    }

    private static int PaddedOutChannels(int channels) => (channels + 15) / 16 * 16;

    /// <summary>
    /// Checkpoints written before the padding became internal hold <c>final_linear</c> with p·p·C' outputs, C'
    /// the channels padded to 16; per pixel of a patch, the first C are the network's (the rest only ever fed
    /// sliced-off outputs), so they are kept and the rest dropped.
    /// </summary>
    void ILegacyTensors.UpgradeLegacyTensors(IDictionary<string, torch.Tensor> tensors, string prefix)
    {
        long pp = _c.PatchSize * _c.PatchSize;
        int padded = PaddedOutChannels(_c.InChannels);
        if (padded == _c.InChannels) return;
        foreach (string name in new[] { "final_linear.weight", "final_linear.bias" })
        {
            if (tensors.TryGetValue(prefix + name, out var t) && t.dim() >= 1 && t.shape[0] == pp * padded)
            {
                long[] perPixel = [pp, padded, .. t.shape.Skip(1)];
                long[] kept = [pp * _c.InChannels, .. t.shape.Skip(1)];
                tensors[prefix + name] = t.reshape(perPixel)[.., .._c.InChannels].reshape(kept);
            }
        }
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x, torch.Tensor t) => forward(x, t, null);
}

/// <summary>
/// A DiT block with adaLN-Zero (Peebles and Xie 2023, Fig. 3): from the conditioning c, shift, scale and gate for
/// the attention and the MLP; x + gate·Attn(LN(x)·(1 + scale) + shift), likewise for the MLP; gates start at zero.
/// The attention and the MLP are the library's shared blocks under the official DiT names (<c>attn.qkv</c>,
/// <c>attn.proj</c>, <c>mlp.fc1</c>, <c>mlp.fc2</c>).
/// </summary>
public sealed class DiTBlock : Module, ILegacyTensors
{
    private readonly LayerNorm norm1, norm2;
    private readonly MultiHeadAttention attn;
    private readonly Mlp mlp;
    private readonly Sequential adaLN_modulation;

    /// <summary>Creates the block.</summary>
    public DiTBlock(int dim, int heads, double mlpRatio) : base(nameof(DiTBlock))
    {
        norm1 = LayerNorm(dim, eps: 1e-6, elementwise_affine: false);
        attn = new MultiHeadAttention(dim, heads, causal: false);
        norm2 = LayerNorm(dim, eps: 1e-6, elementwise_affine: false);
        mlp = new Mlp(dim, (int)(dim * mlpRatio), activation: MlpActivation.GeluTanh);
        adaLN_modulation = Sequential(("0", SiLU()), ("1", Linear(dim, 6 * dim)));
        RegisterComponents();
        using (torch.no_grad())
        {
            ((Linear)adaLN_modulation[1]).weight!.zero_();
            ((Linear)adaLN_modulation[1]).bias!.zero_();
        }
    }

    /// <summary>x·(1 + scale) + shift, per sample.</summary>
    public static torch.Tensor Modulate(torch.Tensor x, torch.Tensor shift, torch.Tensor scale) => x * (scale.unsqueeze(1) + 1) + shift.unsqueeze(1);

    /// <summary>Updates tokens [B, T, D] under conditioning c [B, D]; cos/sin are the RoPE tables or null.</summary>
    public torch.Tensor forward(torch.Tensor x, torch.Tensor c, torch.Tensor? cos, torch.Tensor? sin)
    {
        using var scope = torch.NewDisposeScope();
        var m = adaLN_modulation.forward(c).chunk(6, 1);
        x = x + m[2].unsqueeze(1) * attn.Attend(Modulate(norm1.forward(x), m[0], m[1]), cos, sin, RopePairing.Interleaved);
        x = x + m[5].unsqueeze(1) * mlp.forward(Modulate(norm2.forward(x), m[3], m[4]));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Checkpoints written before the shared blocks hold <c>qkv</c>, <c>proj</c>, <c>fc1</c> and <c>fc2</c> directly in the block.</summary>
    void ILegacyTensors.UpgradeLegacyTensors(IDictionary<string, torch.Tensor> tensors, string prefix)
    {
        foreach (var (old, current) in new[] { ("qkv", "attn.qkv"), ("proj", "attn.proj"), ("fc1", "mlp.fc1"), ("fc2", "mlp.fc2") })
        {
            foreach (string p in new[] { ".weight", ".bias" })
            {
                if (tensors.Remove(prefix + old + p, out var t)) tensors.TryAdd(prefix + current + p, t);
            }
        }
    }
}
