namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// The sizes of a TinyViT image encoder (Wu et al. 2022) as MobileSAM (Zhang et al. 2023) uses it: a
/// convolutional patch embedding to 1/4 resolution, an MBConv stage, then attention stages with local windows,
/// joined by patch merging, and a neck to the prompt width. <see cref="MobileSam"/> is the released
/// <c>mobile_sam.pt</c>'s encoder; <see cref="FromWeights"/> reads any size from a checkpoint.
/// </summary>
/// <param name="EmbedDims">Channels of each stage (MobileSAM: 64, 128, 160, 320).</param>
/// <param name="Depths">Blocks of each stage (2, 2, 6, 2); stage 0 is made of MBConv blocks.</param>
/// <param name="NumHeads">Attention heads of each stage (2, 4, 5, 10; stage 0's is unused).</param>
/// <param name="WindowSizes">Local-attention window side of each stage (7, 7, 14, 7; stage 0's is unused).</param>
/// <param name="MlpRatio">MLP hidden width over stage width in the attention blocks (4).</param>
/// <param name="MbConvExpandRatio">Hidden width over width in the MBConv blocks (4).</param>
/// <param name="LocalConvSize">Kernel of the depthwise convolution between attention and MLP (3).</param>
/// <param name="NumClasses">Outputs of the classifier head the checkpoints carry but SAM never runs (1000; 0 for none).</param>
public sealed record TinyVitConfig(
    int[] EmbedDims,
    int[] Depths,
    int[] NumHeads,
    int[] WindowSizes,
    double MlpRatio = 4.0,
    double MbConvExpandRatio = 4.0,
    int LocalConvSize = 3,
    int NumClasses = 1000)
{
    /// <summary>MobileSAM's TinyViT-5M encoder (<c>mobile_sam.pt</c>; with SAM's decoder 10,130,092 parameters).</summary>
    public static TinyVitConfig MobileSam { get; } = new([64, 128, 160, 320], [2, 2, 6, 2], [2, 4, 5, 10], [7, 7, 14, 7]);

    /// <summary>The state-dict key whose presence marks a TinyViT encoder in a SAM checkpoint.</summary>
    public const string DetectionKey = "image_encoder.patch_embed.seq.0.c.weight";

    /// <summary>Number of stages.</summary>
    public int Stages => EmbedDims.Length;

    /// <summary>
    /// The stride of the patch merging after stage <paramref name="stage"/>: 2, except 1 into the widths 320,
    /// 448 and 576, as the official code has it (so that MobileSAM's last two stages share the 64 × 64 grid).
    /// </summary>
    public int MergeStride(int stage) => EmbedDims[Math.Min(stage + 1, Stages - 1)] is 320 or 448 or 576 ? 1 : 2;

    /// <summary>The token-grid side of every stage for an input of side <paramref name="imageSize"/>.</summary>
    public int[] Resolutions(int imageSize)
    {
        var sides = new int[Stages];
        int side = Down(Down(imageSize, 2), 2);
        for (int i = 0; i < Stages; i++)
        {
            sides[i] = side;
            if (i < Stages - 1) side = Down(side, MergeStride(i));
        }
        return sides;
    }

    // Output side of a 3×3 convolution with padding 1.
    private static int Down(int side, int stride) => (side - 1) / stride + 1;

    /// <summary>Whether both describe the same encoder (heads and windows compared where attention blocks use them).</summary>
    public bool SameAs(TinyVitConfig other) =>
        EmbedDims.SequenceEqual(other.EmbedDims) && Depths.SequenceEqual(other.Depths)
        && Enumerable.Range(1, Stages - 1).All(i => Depths[i] == 0 || (NumHeads[i] == other.NumHeads[i] && WindowSizes[i] == other.WindowSizes[i]))
        && MlpRatio == other.MlpRatio && MbConvExpandRatio == other.MbConvExpandRatio
        && LocalConvSize == other.LocalConvSize && NumClasses == other.NumClasses;

    /// <summary>Checks that the sizes fit together and end on a grid of side <paramref name="grid"/>.</summary>
    /// <exception cref="TesseraUserException">A size that cannot work.</exception>
    public void Validate(int imageSize, int grid)
    {
        if (Stages < 2 || Depths.Length != Stages || NumHeads.Length != Stages || WindowSizes.Length != Stages)
            throw new TesseraUserException(nameof(Depths), "TinyViT needs at least two stages and one width, depth, head count and window per stage");
        for (int i = 1; i < Stages; i++)
        {
            if (Depths[i] > 0 && EmbedDims[i] % NumHeads[i] != 0) throw new TesseraUserException(nameof(NumHeads), $"TinyViT stage {i}: width {EmbedDims[i]} does not split into {NumHeads[i]} heads");
            if (WindowSizes[i] < 1) throw new TesseraUserException(nameof(WindowSizes), $"TinyViT stage {i}: window {WindowSizes[i]}");
        }
        int last = Resolutions(imageSize)[^1];
        if (last != grid) throw new TesseraUserException(nameof(imageSize), $"TinyViT ends on a {last} × {last} grid for {imageSize}-pixel images, not the {grid} × {grid} of the image embedding");
    }

    /// <summary>
    /// The encoder a SAM state dict holds (keys <c>image_encoder.layers.{i}.…</c> as in the official
    /// <c>tiny_vit_sam.py</c>): widths, depths, heads (rows of <c>attention_biases</c>), windows (its columns are
    /// the window area), ratios and the classifier size, all read from tensor shapes.
    /// </summary>
    /// <param name="shape">The shape of a tensor by key, or null where the key is absent.</param>
    /// <exception cref="FormatException">A tensor the layout needs is missing.</exception>
    public static TinyVitConfig FromWeights(Func<string, long[]?> shape)
    {
        long[] Need(string key) => shape(key) ?? throw new FormatException($"tensor '{key}' is missing");
        const string p = "image_encoder.layers";
        int stages = 0;
        while (shape($"{p}.{stages}.blocks.0.conv1.c.weight") is not null || shape($"{p}.{stages}.blocks.0.attn.qkv.weight") is not null
               || shape($"{p}.{stages}.downsample.conv1.c.weight") is not null) stages++;
        if (stages < 2) throw new FormatException($"tensors '{p}.0…' and '{p}.1…' of a two-stage TinyViT are missing");
        var dims = new int[stages];
        var depths = new int[stages];
        var heads = new int[stages];
        var windows = new int[stages];
        dims[0] = (int)Need("image_encoder.patch_embed.seq.2.c.weight")[0];
        for (int i = 0; i < stages - 1; i++) dims[i + 1] = (int)Need($"{p}.{i}.downsample.conv1.c.weight")[0];
        double mlp = 4, expand = 4;
        int local = 3;
        for (int i = 0; i < stages; i++)
        {
            string probe = i == 0 ? "conv1.c.weight" : "attn.qkv.weight";
            while (shape($"{p}.{i}.blocks.{depths[i]}.{probe}") is not null) depths[i]++;
            windows[i] = 7;
            heads[i] = 1;
            if (depths[i] == 0) continue;
            if (i == 0)
            {
                expand = (double)Need($"{p}.0.blocks.0.conv1.c.weight")[0] / dims[0];
                continue;
            }
            var biases = Need($"{p}.{i}.blocks.0.attn.attention_biases");
            heads[i] = (int)biases[0];
            windows[i] = (int)Math.Round(Math.Sqrt(biases[1]));
            if (windows[i] * windows[i] != biases[1]) throw new FormatException($"'{p}.{i}.blocks.0.attn.attention_biases' has {biases[1]} offsets, not a square window's");
            mlp = (double)Need($"{p}.{i}.blocks.0.mlp.fc1.weight")[0] / dims[i];
            local = (int)Need($"{p}.{i}.blocks.0.local_conv.c.weight")[2];
        }
        int classes = shape("image_encoder.head.weight") is { } head ? (int)head[0] : 0;
        return new TinyVitConfig(dims, depths, heads, windows, mlp, expand, local, classes);
    }
}
