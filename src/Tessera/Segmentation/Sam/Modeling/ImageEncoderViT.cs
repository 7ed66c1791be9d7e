using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// SAM's image encoder (Kirillov et al. 2023, §3 and App. A): a plain ViT (Dosovitskiy et al. 2021) with a
/// learned absolute position table, windowed attention in most blocks and global attention in a few
/// (ViTDet, Li et al. 2022), decomposed relative position bias, and a neck (1×1 conv, LayerNorm2d, 3×3 conv,
/// LayerNorm2d) down to the prompt width. Parameter names are those of the official checkpoints.
/// </summary>
public sealed class ImageEncoderViT : SamImageEncoder, IConvertibleEncoder
{
    private readonly PatchEmbed patch_embed;
    private readonly Parameter pos_embed;
    private readonly ModuleList<VitBlock> blocks;
    private readonly Sequential neck;

    /// <summary>The configuration.</summary>
    public SamConfig Config { get; }

    /// <inheritdoc />
    public override string Family => "vit";

    /// <summary>The encoder blocks, in order.</summary>
    public IReadOnlyList<VitBlock> Blocks => [.. blocks];

    /// <summary>Builds the encoder for <paramref name="config"/>.</summary>
    public ImageEncoderViT(SamConfig config) : base(nameof(ImageEncoderViT))
    {
        Config = config;
        int grid = config.EmbeddingSize, dim = config.EncoderDim;
        patch_embed = new PatchEmbed(config.PatchSize, 3, dim);
        pos_embed = new Parameter(torch.zeros(1, grid, grid, dim));
        var global = config.GlobalBlocks.ToHashSet();
        blocks = new ModuleList<VitBlock>([.. Enumerable.Range(0, config.EncoderDepth)
            .Select(i => new VitBlock(dim, config.EncoderHeads, config.MlpRatio, global.Contains(i) ? 0 : config.WindowSize, grid))]);
        neck = Neck(dim, config.PromptDim);
        RegisterComponents();
    }

    /// <summary>Patch embedding, channels last: [B, H/p, W/p, C].</summary>
    public torch.Tensor PatchEmbedding(torch.Tensor image) => patch_embed.forward(image);

    /// <summary>The learned absolute position table [1, H/p, W/p, C].</summary>
    public torch.Tensor PositionTable => pos_embed;

    /// <summary>The neck's layers applied one by one to a channels-first map, each output returned.</summary>
    public IReadOnlyList<torch.Tensor> NeckStages(torch.Tensor x)
    {
        var outputs = new List<torch.Tensor>();
        foreach (var layer in neck.children().Cast<Module<torch.Tensor, torch.Tensor>>())
        {
            x = layer.forward(x);
            outputs.Add(x);
        }
        return outputs;
    }

    torch.ScalarType IConvertibleEncoder.ComputeType => EncoderPrecision.WeightType(patch_embed);

    void IConvertibleEncoder.ConvertWeights(torch.ScalarType type)
    {
        patch_embed.to(type);
        blocks.to(type);
        ConvertNeck(neck, type);
    }

    /// <summary>Image embedding [B, PromptDim, H/p, W/p] of preprocessed images [B, 3, ImageSize, ImageSize].</summary>
    public override torch.Tensor forward(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        // Issue 28 (EncoderPrecision): the products run in the weights' type; the position table is added in its own
        // (float32), each neck layer gets its weights' type (LayerNorm2d stays float32), so the embedding is float32.
        var x = patch_embed.forward(image.to(((IConvertibleEncoder)this).ComputeType));
        x = EncoderPrecision.AddPosition(x, pos_embed);
        foreach (var block in blocks)
        {
            using var blockScope = torch.NewDisposeScope();
            x = block.forward(x).MoveToOuterDisposeScope();
        }
        x = RunNeck(neck, x.permute(0, 3, 1, 2));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Patch embedding: a p×p convolution with stride p (SAM's ViT), or an overlapping k×k one with stride s and padding
/// (SAM 2's Hiera: 7×7, stride 4, padding 3), output channels last; key <c>proj</c>.
/// </summary>
public sealed class PatchEmbed : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d proj;

    /// <summary>Creates the embedding of <paramref name="inChannels"/>-channel images into <paramref name="dim"/>.</summary>
    public PatchEmbed(int patch, int inChannels, int dim) : this(patch, patch, 0, inChannels, dim)
    {
    }

    /// <summary>Creates a <paramref name="kernel"/>-wide embedding with <paramref name="stride"/> and zero <paramref name="padding"/>.</summary>
    public PatchEmbed(int kernel, int stride, int padding, int inChannels, int dim) : base(nameof(PatchEmbed))
    {
        proj = Conv2d(inChannels, dim, kernel, stride: stride, padding: padding);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var y = proj.forward(x);
        return y.permute(0, 2, 3, 1);
    }
}

/// <summary>
/// A ViT block with optional windowing (ViTDet): x + Attn(LN(x)) then x + MLP(LN(x)). Windowed blocks pad
/// the token grid with zero tokens (after the first LayerNorm) to a multiple of the window and crop after.
/// </summary>
public sealed class VitBlock : Module<torch.Tensor, torch.Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly VitAttention attn;
    private readonly Mlp mlp;

    /// <summary>Window side in tokens; 0 for global attention.</summary>
    public int WindowSize { get; }

    /// <summary>The key names of SAM's MLP layers in the official checkpoints (<c>mlp.lin1</c>, <c>mlp.lin2</c>).</summary>
    internal static (string First, string Second) SamMlpNames => ("lin1", "lin2");

    /// <summary>The attention layer.</summary>
    public VitAttention Attention => attn;

    /// <summary>Creates the block; <paramref name="grid"/> is the token grid side of global blocks.</summary>
    public VitBlock(int dim, int heads, double mlpRatio, int windowSize, int grid) : base(nameof(VitBlock))
    {
        WindowSize = windowSize;
        norm1 = LayerNorm(dim, eps: 1e-6);
        attn = new VitAttention(dim, heads, windowSize > 0 ? windowSize : grid);
        norm2 = LayerNorm(dim, eps: 1e-6);
        mlp = new Mlp(dim, (int)(dim * mlpRatio), names: SamMlpNames);
        RegisterComponents();
    }

    /// <summary>The first LayerNorm (exposed for parity tests).</summary>
    public torch.Tensor Norm1(torch.Tensor x) => norm1.forward(x);

    /// <summary>The attention input: the normalised tokens, split into windows for windowed blocks.</summary>
    public torch.Tensor AttentionInput(torch.Tensor x)
    {
        var n = norm1.forward(x);
        if (WindowSize == 0) return n;
        using (n) return Windows.Partition(n, WindowSize).Windows;
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = norm1.forward(x);
        if (WindowSize > 0)
        {
            long height = h.shape[1], width = h.shape[2];
            var (windows, padded) = Windows.Partition(h, WindowSize);
            h = Windows.Unpartition(attn.forward(windows), WindowSize, padded, (height, width));
        }
        else
        {
            h = attn.forward(h);
        }
        // The residual sums into the fresh attention and MLP outputs (no new activation-sized tensors).
        x = h.add_(x);
        return mlp.forward(norm2.forward(x)).add_(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Multi-head self-attention over a token grid [B, H, W, C] with decomposed relative position bias:
/// softmax((q/√d)·kᵀ + rel(q)) v (MViTv2 eq. 4; the bias uses the unscaled q).
/// </summary>
public sealed class VitAttention : Module<torch.Tensor, torch.Tensor>
{
    private readonly Linear qkv, proj;
    private readonly Parameter rel_pos_h, rel_pos_w;
    private readonly int _heads;
    private readonly double _scale;

    /// <summary>Creates the layer for a grid of side <paramref name="size"/> (the window, or the whole grid).</summary>
    public VitAttention(int dim, int heads, int size) : base(nameof(VitAttention))
    {
        _heads = heads;
        int headDim = dim / heads;
        _scale = Math.Pow(headDim, -0.5);
        qkv = Linear(dim, dim * 3, hasBias: true);
        proj = Linear(dim, dim);
        // The official code creates these as zeros whatever rel_pos_zero_init says; checkpoints fill them.
        rel_pos_h = new Parameter(torch.zeros(2 * size - 1, headDim));
        rel_pos_w = new Parameter(torch.zeros(2 * size - 1, headDim));
        RegisterComponents();
    }

    /// <summary>The qkv projection [C → 3C].</summary>
    public Linear Qkv => qkv;

    /// <summary>The output projection [C → C].</summary>
    public Linear Proj => proj;

    /// <summary>A low-rank adapter added to the qkv projection (not merged, not part of the state dict); null when none.</summary>
    internal LoraAdapter? QkvLora { get; set; }

    /// <summary>A low-rank adapter added to the output projection; null when none.</summary>
    internal LoraAdapter? ProjLora { get; set; }

    private (torch.Tensor Q, torch.Tensor K, torch.Tensor V) Split(torch.Tensor x)
    {
        long b = x.shape[0], h = x.shape[1], w = x.shape[2];
        var projected = qkv.forward(x);
        if (QkvLora is not null) projected = projected + QkvLora.forward(x);
        var parts = projected.reshape(b, h * w, 3, _heads, -1).permute(2, 0, 3, 1, 4).reshape(3, b * _heads, h * w, -1).unbind(0);
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>Pre-softmax logits [B·heads, HW, HW] including the relative position terms.</summary>
    public torch.Tensor Logits(torch.Tensor x, bool withRelativePosition = true)
    {
        using var scope = torch.NewDisposeScope();
        int h = (int)x.shape[1], w = (int)x.shape[2];
        var (q, k, _) = Split(x);
        using var scale = _scale.ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
        var logits = torch.matmul(q * scale, k.transpose(-2, -1));
        if (withRelativePosition) logits = RelativePosition.AddDecomposed(logits, q, rel_pos_h, rel_pos_w, (h, w), (h, w));
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        int h = (int)x.shape[1], w = (int)x.shape[2];
        var (q, k, v) = Split(x);
        long bh = q.shape[0], n = q.shape[1], c = q.shape[2];
        var rh = RelativePosition.Get(h, h, rel_pos_h);
        var rw = RelativePosition.Get(w, w, rel_pos_w);
        // (q/√d)·kᵀ + relH + relW (MViTv2 eq. 4, decomposed): the relative-position terms are computed in float32 from
        // the queries (small: [B·heads, h, w, k]). In float32 they are added to each chunk of logits in place (1.36–1.99
        // ms per chunk of 512 queries of a global block at 1–2 threads, against 1.34–2.67 ms for the form below). At a lower precision
        // (EncoderPrecision) their sum is formed in float32 and rounded once per chunk, and the product adds it in its
        // float32 accumulator (baddbmm, oneDNN's sum post-op), so the logits are rounded once. Issue 28, measured (1 thread,
        // the same chunk): bf16 2.09 ms against 2.77 ms for the terms folded into the product as 128
        // extra columns of q and one-hot columns of k (the previous form); adding them to bfloat16 logits in place (two
        // more roundings) had brought one fixture mask's IoU to 0.969. The logits and softmax stay in the value type, as
        // PyTorch's CPU autocast runs them (libtorch's bfloat16 softmax accumulates in float32); converting the logits to
        // float32 for the additions and the softmax made the encoder only 1.09x float32 (bench/README.md).
        // Without autograd, on an AVX-512 CPU, DecomposedBiasSoftmax adds the terms to each row of the bare product in
        // float32 and takes the softmax in the same pass (issue 28, session 6, per 512-query chunk of a global block at
        // 2 threads: bf16 product, bias and softmax 1.50 → 0.78 ms, float32 1.62 → 1.28 ms; the bf16 encoder
        // 2.41-2.62 → 2.07-2.16 s alternated): the logits are rounded once (the product) and the terms added exactly.
        var f32 = torch.ScalarType.Float32;
        var rq = q.reshape(bh, h, w, c).to(f32);
        var relH = torch.einsum("bhwc,hkc->bhwk", rq, rh.to(f32)); // [B·heads, h, w, kh]
        var relW = torch.einsum("bhwc,wkc->bhwk", rq, rw.to(f32)); // [B·heads, h, w, kw]
        using var scale = _scale.ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
        var qs = q * scale;
        // k and v are strided views of the qkv projection (a token's row holds q, k and v of every head): each chunk's
        // product would copy its slice of them again, 192 times per global block. Laid out once, kᵀ row-major: ViT-B
        // encoder 4.05-4.52 → 3.95-4.17 s at 2 threads (issue 28, session 5, alternated runs).
        var kt = k.transpose(-2, -1).contiguous();
        v = v.contiguous();
        // The logits are computed in chunks of (windows·heads, query rows) of about ChunkBytes each, so that the
        // logits, their relative-position terms and the softmax stay in cache and in reused heap memory rather
        // than three fresh [B·heads, hw, hw] tensors (805 MB each in a global ViT-B block). At every thread count:
        // on the idle machine at 2 threads the whole-logits pass took 22.7-24.0 s per ViT-B encoder and the chunked one
        // 8.5-8.7 s (issue 28, 2026-12-06, bench `sam 2 1`, interleaved). An earlier measurement under load average
        // 30-40 had favoured whole logits at several threads (every chunk's ops are parallel regions whose barriers
        // cost a time slice on a busy machine); users' machines are rarely that busy, so the idle figure decides.
        bool fused = !q.requires_grad && !relH.requires_grad && !relW.requires_grad && DecomposedBiasSoftmax.Supported(q, h, w);
        long budget = ChunkBytes;
        long rowBytes = n * q.ElementSize * w;
        long rows = Math.Clamp(budget / rowBytes, 1, h);
        long groups = rows < h ? 1 : Math.Clamp(budget / (rowBytes * h), 1, bh);
        var pieces = new List<torch.Tensor>();
        for (long g0 = 0; g0 < bh; g0 += groups)
        {
            long g = Math.Min(groups, bh - g0);
            var rowPieces = new List<torch.Tensor>();
            for (long r0 = 0; r0 < h; r0 += rows)
            {
                using var chunkScope = torch.NewDisposeScope();
                long r = Math.Min(rows, h - r0);
                var qc = qs.narrow(0, g0, g).narrow(1, r0 * w, r * w);
                torch.Tensor weights;
                if (fused)
                {
                    weights = torch.bmm(qc, kt.narrow(0, g0, g));
                    DecomposedBiasSoftmax.ApplyInPlace(weights.view(g * r * w, h * w),
                        relH.narrow(0, g0, g).narrow(1, r0, r).reshape(g * r * w, h).contiguous(),
                        relW.narrow(0, g0, g).narrow(1, r0, r).reshape(g * r * w, w).contiguous(), h, w);
                }
                else
                {
                    var termH = relH.narrow(0, g0, g).narrow(1, r0, r).unsqueeze(4);
                    var termW = relW.narrow(0, g0, g).narrow(1, r0, r).unsqueeze(3);
                    var logits = q.dtype == f32
                        ? torch.matmul(qc, kt.narrow(0, g0, g)).view(g, r, w, h, w).add_(termH).add_(termW).view(g, r * w, h * w)
                        : BiasPlusProduct(termH.add(termW).to(q.dtype).reshape(g, r * w, h * w), qc, kt.narrow(0, g0, g));
                    weights = logits.softmax(-1);
                }
                rowPieces.Add(torch.matmul(weights, v.narrow(0, g0, g)).MoveToOuterDisposeScope());
            }
            pieces.Add(rowPieces.Count == 1 ? rowPieces[0] : torch.cat(rowPieces, 1));
        }
        var attended = pieces.Count == 1 ? pieces[0] : torch.cat(pieces, 0);
        var y = attended.view(b, _heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1);
        var output = proj.forward(y);
        if (ProjLora is not null) output = output + ProjLora.forward(y);
        return output.MoveToOuterDisposeScope();
    }

    // Size in bytes of the attention-logit chunks the forward pass works on (a few MB: cache sized).
    private const long ChunkBytes = 4L << 20;

    // bias + a·b for batches [g, m, k] · [g, k, n] (torch.baddbmm(bias, a, b)). TorchSharp 0.107 hands its three
    // tensors to libtorch in the order (this, first argument, second argument) = (batch1, batch2, input), so the call
    // reads a.baddbmm(b, bias).
    private static torch.Tensor BiasPlusProduct(torch.Tensor bias, torch.Tensor a, torch.Tensor b) => a.baddbmm(b, bias);
}

/// <summary>Window partitioning of a token grid [B, H, W, C] (ViTDet / Swin).</summary>
public static class Windows
{
    /// <summary>Pads the grid with zero tokens to a multiple of <paramref name="size"/> and splits it into windows [B·nw, s, s, C], row-major.</summary>
    public static (torch.Tensor Windows, (long H, long W) Padded) Partition(torch.Tensor x, int size)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3];
        long padH = (size - h % size) % size, padW = (size - w % size) % size;
        if (padH > 0 || padW > 0) x = functional.pad(x, [0, 0, 0, padW, 0, padH]);
        long hp = h + padH, wp = w + padW;
        var windows = x.view(b, hp / size, size, wp / size, size, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, size, size, c);
        return (windows.MoveToOuterDisposeScope(), (hp, wp));
    }

    /// <summary>Reassembles windows into the padded grid and crops it to <paramref name="original"/>.</summary>
    public static torch.Tensor Unpartition(torch.Tensor windows, int size, (long H, long W) padded, (long H, long W) original)
    {
        using var scope = torch.NewDisposeScope();
        long b = windows.shape[0] / (padded.H * padded.W / size / size);
        var x = windows.view(b, padded.H / size, padded.W / size, size, size, -1).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, padded.H, padded.W, -1);
        if (padded.H > original.H || padded.W > original.W)
            x = x[.., ..(int)original.H, ..(int)original.W, ..].contiguous();
        return x.MoveToOuterDisposeScope();
    }
}
