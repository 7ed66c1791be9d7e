namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// The sizes of a Hiera image trunk ("Hiera: A Hierarchical Vision Transformer without the Bells-and-Whistles",
/// Ryali et al. 2023) as SAM 2 uses it (Ravi et al. 2024, §4; the official <c>hieradet.py</c>): a strided
/// convolutional patch embedding to 1/4 resolution, then stages of multi-scale blocks; the first block of each later
/// stage halves the grid by max-pooling its queries and doubles the width and the head count. Blocks attend within
/// windows except the few global ones. <see cref="Tiny"/>, <see cref="Small"/>, <see cref="BasePlus"/> and
/// <see cref="Large"/> are the released SAM 2 / 2.1 trunks (<c>sam2.1_hiera_{t,s,b+,l}.yaml</c>; the SAM 2 ones are
/// the same); <see cref="FromWeights"/> reads any size from a checkpoint.
/// </summary>
/// <param name="EmbedDim">Width of the first stage (t, s: 96; b+: 112; l: 144).</param>
/// <param name="NumHeads">Attention heads of the first stage (t, s: 1; b+, l: 2).</param>
/// <param name="Stages">Blocks of each stage (t: 1, 2, 7, 2).</param>
/// <param name="GlobalAttentionBlocks">Indices (over all blocks) of the blocks with global attention (t: 5, 7, 9).</param>
/// <param name="WindowSpec">Window side of each stage (8, 4, 14, 7; l: 8, 4, 16, 8). The first block of a stage still
/// uses the previous stage's window before its pooling (the official code lags the window by one block).</param>
/// <param name="WindowPositionEmbeddingSize">Side (rows, columns) of the background position table <c>pos_embed</c>,
/// interpolated to the token grid (t, s: 7 × 7; b+, l: 14 × 14).</param>
public sealed record HieraConfig(
    int EmbedDim,
    int NumHeads,
    int[] Stages,
    int[] GlobalAttentionBlocks,
    int[] WindowSpec,
    int[] WindowPositionEmbeddingSize)
{
    /// <summary>Number of stage transitions that pool the queries (3: every one).</summary>
    public int QPool { get; init; } = 3;

    /// <summary>Stride of the query pooling at a stage transition (2).</summary>
    public int QStride { get; init; } = 2;

    /// <summary>Width factor at a stage transition (2).</summary>
    public double DimMul { get; init; } = 2.0;

    /// <summary>Head-count factor at a stage transition (2).</summary>
    public double HeadMul { get; init; } = 2.0;

    /// <summary>Hiera-T of <c>sam2.1_hiera_tiny.pt</c>.</summary>
    public static HieraConfig Tiny { get; } = new(96, 1, [1, 2, 7, 2], [5, 7, 9], [8, 4, 14, 7], [7, 7]);

    /// <summary>Hiera-S of <c>sam2.1_hiera_small.pt</c>.</summary>
    public static HieraConfig Small { get; } = new(96, 1, [1, 2, 11, 2], [7, 10, 13], [8, 4, 14, 7], [7, 7]);

    /// <summary>Hiera-B+ of <c>sam2.1_hiera_base_plus.pt</c> (the class defaults of <c>hieradet.py</c>).</summary>
    public static HieraConfig BasePlus { get; } = new(112, 2, [2, 3, 16, 3], [12, 16, 20], [8, 4, 14, 7], [14, 14]);

    /// <summary>Hiera-L of <c>sam2.1_hiera_large.pt</c>.</summary>
    public static HieraConfig Large { get; } = new(144, 2, [2, 6, 36, 4], [23, 33, 43], [8, 4, 16, 8], [7, 7]);

    /// <summary>The four released trunks by their short names (t, s, b+, l).</summary>
    public static IReadOnlyDictionary<string, HieraConfig> Released { get; } = new Dictionary<string, HieraConfig>
    {
        ["t"] = Tiny,
        ["s"] = Small,
        ["b+"] = BasePlus,
        ["l"] = Large,
    };

    /// <summary>Total number of blocks.</summary>
    public int Depth => Stages.Sum();

    /// <summary>The index of the last block of each stage (the trunk's outputs are taken there).</summary>
    public int[] StageEnds => [.. Enumerable.Range(1, Stages.Length).Select(i => Stages.Take(i).Sum() - 1)];

    /// <summary>The blocks that pool their queries: the first block of each of the first <see cref="QPool"/> later stages.</summary>
    public int[] QPoolBlocks => [.. StageEnds[..^1].Select(e => e + 1).Take(QPool)];

    /// <summary>The width of each stage.</summary>
    public int[] StageDims => [.. Enumerable.Range(0, Stages.Length).Select(s => Blocks().Last(b => b.Stage == s).DimOut)];

    /// <summary>
    /// Every block's sizes, as the official constructor derives them: the input and output width, the heads, the window
    /// (0 for global attention; the previous stage's window for a stage's first block) and whether it pools its queries.
    /// </summary>
    public IReadOnlyList<HieraBlockSpec> Blocks()
    {
        var blocks = new List<HieraBlockSpec>(Depth);
        var ends = StageEnds.ToHashSet();
        var pooled = QPoolBlocks.ToHashSet();
        var global = GlobalAttentionBlocks.ToHashSet();
        int dim = EmbedDim, heads = NumHeads, stage = 0;
        for (int i = 0; i < Depth; i++)
        {
            int dimOut = dim;
            int window = global.Contains(i) ? 0 : WindowSpec[stage];
            if (ends.Contains(i - 1))
            {
                dimOut = (int)(dim * DimMul);
                heads = (int)(heads * HeadMul);
                stage++;
            }
            blocks.Add(new HieraBlockSpec(i, stage, dim, dimOut, heads, window, pooled.Contains(i)));
            dim = dimOut;
        }
        return blocks;
    }

    /// <summary>Whether both describe the same trunk.</summary>
    public bool SameAs(HieraConfig other) =>
        EmbedDim == other.EmbedDim && NumHeads == other.NumHeads && Stages.SequenceEqual(other.Stages)
        && GlobalAttentionBlocks.Order().SequenceEqual(other.GlobalAttentionBlocks.Order()) && WindowSpec.SequenceEqual(other.WindowSpec)
        && WindowPositionEmbeddingSize.SequenceEqual(other.WindowPositionEmbeddingSize)
        && QPool == other.QPool && QStride == other.QStride && DimMul == other.DimMul && HeadMul == other.HeadMul;

    /// <summary>Checks that the sizes fit together.</summary>
    /// <exception cref="ArgumentException">A size that cannot work (named in the message).</exception>
    public void Validate()
    {
        if (Stages.Length < 1 || Stages.Any(s => s < 1)) throw new ArgumentException($"Hiera stages must each have at least one block, got [{string.Join(", ", Stages)}]");
        if (WindowSpec.Length != Stages.Length) throw new ArgumentException($"Hiera needs one window per stage: {Stages.Length} stages, {WindowSpec.Length} windows");
        if (WindowPositionEmbeddingSize.Length != 2 || WindowPositionEmbeddingSize.Any(s => s < 1)) throw new ArgumentException("Hiera's background position table needs a positive (rows, columns) size");
        if (QPool < 0 || QPool > Stages.Length - 1) throw new ArgumentException($"Hiera pools queries at {QPool} of {Stages.Length - 1} stage transitions");
        if (EmbedDim < 1 || NumHeads < 1) throw new ArgumentException($"Hiera width {EmbedDim} and heads {NumHeads} must be positive");
        if (WindowSpec[0] < 1) throw new ArgumentException($"Hiera's first window {WindowSpec[0]} must be positive (it tiles pos_embed_window)");
        foreach (var b in Blocks())
        {
            if (b.DimOut % b.Heads != 0) throw new ArgumentException($"Hiera block {b.Index}: width {b.DimOut} does not split into {b.Heads} heads");
            if (b.PoolsQueries && b.Window > 0 && b.Window % QStride != 0) throw new ArgumentException($"Hiera block {b.Index}: window {b.Window} is not a multiple of the query stride {QStride}");
        }
    }

    /// <summary>
    /// The trunk a SAM 2 state dict holds under <paramref name="prefix"/> (keys as in the official <c>hieradet.py</c>):
    /// the width (patch embedding), the blocks of each stage (a stage begins at each block with a <c>proj</c> layer, which
    /// only width-changing blocks have), the background table's size (<c>pos_embed</c>) and the first window
    /// (<c>pos_embed_window</c>). The head counts, global blocks and later windows leave no trace in the weights: they are
    /// those of the released configuration with this width and these stages, and for any other trunk the official
    /// class defaults (one head, windows [w₀, 4, 14, 7]) with the last block of the third stage global, as in every
    /// released trunk.
    /// </summary>
    /// <param name="shape">The shape of a tensor by key, or null where the key is absent.</param>
    /// <param name="prefix">The trunk's key prefix (<c>image_encoder.trunk.</c> in SAM 2 checkpoints).</param>
    /// <exception cref="FormatException">A tensor the layout needs is missing or has an unexpected shape.</exception>
    public static HieraConfig FromWeights(Func<string, long[]?> shape, string prefix = "image_encoder.trunk.")
    {
        long[] Need(string key) => shape(prefix + key) ?? throw new FormatException($"tensor '{prefix}{key}' is missing");
        int dim = (int)Need("patch_embed.proj.weight")[0];
        var table = Need("pos_embed");
        var window = Need("pos_embed_window");
        if (table.Length != 4 || window.Length != 4) throw new FormatException($"'{prefix}pos_embed' and '{prefix}pos_embed_window' must be [1, C, h, w]");
        int depth = 0;
        while (shape($"{prefix}blocks.{depth}.norm1.weight") is not null) depth++;
        if (depth == 0) throw new FormatException($"tensor '{prefix}blocks.0.norm1.weight' is missing");
        var stages = new List<int> { 0 };
        for (int i = 0; i < depth; i++)
        {
            if (i > 0 && shape($"{prefix}blocks.{i}.proj.weight") is not null) stages.Add(0);
            stages[^1]++;
        }
        foreach (var released in Released.Values)
            if (released.EmbedDim == dim && released.Stages.SequenceEqual(stages)) return released;
        int third = Math.Min(2, stages.Count - 1);
        int[] windows = [(int)window[2], 4, 14, 7];
        return new HieraConfig(dim, 1, [.. stages], [stages.Take(third + 1).Sum() - 1],
            [.. Enumerable.Range(0, stages.Count).Select(s => windows[Math.Min(s, windows.Length - 1)])], [(int)table[2], (int)table[3]]);
    }
}

/// <summary>One Hiera block's sizes (<see cref="HieraConfig.Blocks"/>).</summary>
/// <param name="Index">Position among all blocks.</param>
/// <param name="Stage">The stage it belongs to (0-based).</param>
/// <param name="Dim">Input width.</param>
/// <param name="DimOut">Output width (twice the input at a stage's first block).</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="Window">Window side of its attention before any pooling; 0 for global attention.</param>
/// <param name="PoolsQueries">Whether it max-pools its queries (and shortcut) by the query stride.</param>
public sealed record HieraBlockSpec(int Index, int Stage, int Dim, int DimOut, int Heads, int Window, bool PoolsQueries);
