using Tessera.Segmentation.Sam.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's image trunk, Hiera (Ryali et al. 2023; Ravi et al. 2024, §4 "Image encoder"; the official
/// <c>hieradet.Hiera</c>): an overlapping 7×7/4 patch embedding, a windowed absolute position embedding, then the
/// <see cref="MultiScaleBlock"/>s of <see cref="HieraConfig"/>. Returns every stage's output, channels first, from the
/// highest resolution (stride 4) to the lowest (stride 32). Keys <c>patch_embed.proj</c>, <c>pos_embed</c>,
/// <c>pos_embed_window</c>, <c>blocks.{i}</c>, as under <c>image_encoder.trunk.</c> in the released checkpoints.
/// </summary>
public sealed class Hiera : Module<torch.Tensor, IReadOnlyList<torch.Tensor>>
{
    private readonly PatchEmbed patch_embed;
    private readonly Parameter pos_embed, pos_embed_window;
    private readonly ModuleList<MultiScaleBlock> blocks;
    private readonly HashSet<int> _stageEnds;

    /// <summary>The configuration.</summary>
    public HieraConfig Config { get; }

    /// <summary>The channels of the outputs, lowest resolution first (the official <c>channel_list</c>, what the neck expects).</summary>
    public int[] ChannelList => [.. Config.StageDims.Reverse()];

    /// <summary>Builds the trunk for <paramref name="config"/> (validated first).</summary>
    /// <exception cref="ArgumentException">A size that cannot work.</exception>
    public Hiera(HieraConfig config) : base(nameof(Hiera))
    {
        config.Validate();
        Config = config;
        _stageEnds = [.. config.StageEnds];
        patch_embed = new PatchEmbed(7, 4, 3, 3, config.EmbedDim);
        pos_embed = new Parameter(torch.zeros(1, config.EmbedDim, config.WindowPositionEmbeddingSize[0], config.WindowPositionEmbeddingSize[1]));
        pos_embed_window = new Parameter(torch.zeros(1, config.EmbedDim, config.WindowSpec[0], config.WindowSpec[0]));
        // Owned by the module, not by a dispose scope the caller may be building it in.
        pos_embed.DetachFromDisposeScope();
        pos_embed_window.DetachFromDisposeScope();
        blocks = new ModuleList<MultiScaleBlock>([.. config.Blocks().Select(b => new MultiScaleBlock(b, config.QStride))]);
        RegisterComponents();
    }

    /// <summary>The patch embedding of preprocessed images [B, 3, H, W], channels last [B, H/4, W/4, C].</summary>
    public torch.Tensor PatchEmbedding(torch.Tensor image) => patch_embed.forward(image);

    /// <summary>
    /// The position embedding for an <paramref name="h"/> × <paramref name="w"/> token grid, channels last [1, h, w, C]:
    /// the background table interpolated bicubically to the grid plus the window table tiled over it — the windowed
    /// position embedding of Bolya et al. 2023 ("Window Attention is Bugged", arXiv 2311.05613: p = interp(p_bg) + tile(p_win)),
    /// which Hiera for SAM 2 adopts. The grid must be a whole number of first-stage windows.
    /// </summary>
    /// <exception cref="ArgumentException">The grid is not a multiple of the first window.</exception>
    public torch.Tensor PositionEmbedding(long h, long w)
    {
        int win = Config.WindowSpec[0];
        if (h % win != 0 || w % win != 0)
            throw new ArgumentException($"Hiera's {h} × {w} token grid is not a whole number of {win} × {win} windows (image sides must be multiples of {4 * win})");
        bool keep = !(torch.is_grad_enabled() && (pos_embed.requires_grad || pos_embed_window.requires_grad));
        lock (_positionLock)
        {
            if (keep && _position is { } kept && kept.H == h && kept.W == w && kept.Table.device_type == pos_embed.device_type && kept.Table.device_index == pos_embed.device_index
                && kept.Table.allclose(pos_embed, 0, 0) && kept.Window.allclose(pos_embed_window, 0, 0))
                return kept.Embedding.alias();
        }
        using var scope = torch.NewDisposeScope();
        var table = functional.interpolate(pos_embed, [h, w], mode: torch.InterpolationMode.Bicubic, align_corners: false);
        var tiled = pos_embed_window.tile([1, 1, h / win, w / win]);
        var embedding = (table + tiled).permute(0, 2, 3, 1);
        if (keep)
        {
            // Kept for the next image of the same size (inference only): the bicubic interpolation of a 256 × 256 grid
            // took about 15 ms per 1024² image at 2 threads (issue 27, session 7); a change of either table (a load, a
            // training step) is seen by comparing them with copies (8 K values) and recomputes it.
            var entry = new KeptPosition(h, w, pos_embed.detach().clone(), pos_embed_window.detach().clone(), embedding.detach());
            foreach (var t in new[] { entry.Table, entry.Window, entry.Embedding }) t.DetachFromDisposeScope();
            lock (_positionLock)
            {
                _position?.Dispose();
                _position = entry;
            }
            return embedding.alias().MoveToOuterDisposeScope();
        }
        return embedding.MoveToOuterDisposeScope();
    }

    private readonly object _positionLock = new();
    private KeptPosition? _position;

    private sealed class KeptPosition(long h, long w, torch.Tensor table, torch.Tensor window, torch.Tensor embedding) : IDisposable
    {
        public long H { get; } = h;
        public long W { get; } = w;
        public torch.Tensor Table { get; } = table;
        public torch.Tensor Window { get; } = window;
        public torch.Tensor Embedding { get; } = embedding;

        public void Dispose()
        {
            Table.Dispose();
            Window.Dispose();
            Embedding.Dispose();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            lock (_positionLock)
            {
                _position?.Dispose();
                _position = null;
            }
        base.Dispose(disposing);
    }

    /// <summary>The type the trunk's products run in (the patch embedding's weight type).</summary>
    internal torch.ScalarType ComputeType => EncoderPrecision.WeightType(patch_embed);

    /// <summary>Converts the patch embedding and the blocks to <paramref name="type"/>; the position tables stay float32.</summary>
    internal void ConvertWeights(torch.ScalarType type)
    {
        patch_embed.to(type);
        blocks.to(type);
    }

    /// <summary>The blocks' outputs channels last, in order (for parity tests), for patch-embedded tokens with their position embedding added.</summary>
    internal IEnumerable<torch.Tensor> BlockOutputs(torch.Tensor tokens)
    {
        var x = tokens;
        foreach (var block in blocks)
        {
            x = block.forward(x);
            yield return x;
        }
    }

    /// <summary>Every stage's output [B, Cᵢ, H/2^(i+2), W/2^(i+2)], highest resolution first, for preprocessed images [B, 3, H, W].</summary>
    public override IReadOnlyList<torch.Tensor> forward(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        // Issue 28 (EncoderPrecision): the products run in the weights' type; the position embedding is computed from the
        // float32 tables and added in float32, then rounded once.
        var x = patch_embed.forward(image.to(ComputeType));
        x = EncoderPrecision.AddPosition(x, PositionEmbedding(x.shape[1], x.shape[2]));
        var outputs = new List<torch.Tensor>();
        for (int i = 0; i < blocks.Count; i++)
        {
            using (var blockScope = torch.NewDisposeScope())
                x = blocks[i].forward(x).MoveToOuterDisposeScope();
            if (_stageEnds.Contains(i)) outputs.Add(x.permute(0, 3, 1, 2).contiguous());
        }
        foreach (var o in outputs) o.MoveToOuterDisposeScope();
        return outputs;
    }
}
