namespace Tessera.Bench;

/// <summary>
/// Floating-point operations per call of the benches' models, counted analytically from the architectures: every
/// convolution, linear layer and attention product at 2 FLOPs per multiply-add (2·M·K·N for an M×K by K×N product;
/// 2·outputs·C_in·k² for a convolution); elementwise work, normalisation, softmax, pooling and resizing are not counted
/// (each under 1 % of these models' products). A training step is counted as 3× its forward pass (the backward
/// pass's two products per forward product). Checked against PyTorch's own count of the same architectures
/// (bench/scripts/flops_torch.py, a dispatch-mode counter of aten mm/addmm/bmm/convolution): see bench/README.md.
/// </summary>
internal static class ModelFlops
{
    private static double Conv(long outH, long outW, long cin, long cout, long k) => 2.0 * outH * outW * cin * cout * k * k;

    private static double Linear(long rows, long inputs, long outputs) => 2.0 * rows * inputs * outputs;

    /// <summary>SAM's image encoder on one ImageSize² image (ViTDet: windowed blocks pad the grid to whole windows).</summary>
    public static double SamEncoder(SamConfig c)
    {
        long g = c.EmbeddingSize, dim = c.EncoderDim, tokens = g * g, hidden = (long)(dim * c.MlpRatio);
        double f = Conv(g, g, 3, dim, c.PatchSize);
        var global = c.GlobalBlocks.ToHashSet();
        for (int i = 0; i < c.EncoderDepth; i++)
        {
            long side = global.Contains(i) ? g : c.WindowSize;
            long padded = global.Contains(i) ? g : (g + c.WindowSize - 1) / c.WindowSize * c.WindowSize;
            long windows = padded * padded / (side * side), n = side * side, attended = padded * padded;
            f += Linear(attended, dim, 3 * dim) + Linear(attended, dim, dim); // qkv, proj (padded tokens too)
            f += windows * (2 * 2.0 * n * n * dim); // q·kᵀ and softmax·v, all heads
            f += windows * (2 * 2.0 * n * side * dim); // the two relative-position einsums (q against rel_h, rel_w)
            f += Linear(tokens, dim, hidden) + Linear(tokens, hidden, dim); // MLP
        }
        return f + Conv(g, g, dim, c.PromptDim, 1) + Conv(g, g, c.PromptDim, c.PromptDim, 3);
    }

    /// <summary>
    /// torchvision's DeepLabV3-ResNet-50 forward on one size² image: output stride 8 (layers 3–4 dilated), ASPP
    /// (1×1, three 3×3, image pooling, projection), the 3×3 head and classifier, and the auxiliary FCN head on layer3.
    /// </summary>
    public static double DeepLabV3ResNet50(int size, int classes, bool aux = true)
    {
        long r = size / 2; // stem 7×7 stride 2
        double f = Conv(r, r, 3, 64, 7);
        r /= 2; // max-pool
        long inputs = 64;
        foreach (var (blocks, width, stride) in new[] { (3, 64L, 1), (4, 128L, 2), (6, 256L, 1), (3, 512L, 1) })
        {
            for (int b = 0; b < blocks; b++)
            {
                long s = b == 0 ? stride : 1, outR = r / s;
                f += Conv(r, r, inputs, width, 1) + Conv(outR, outR, width, width, 3) + Conv(outR, outR, width, 4 * width, 1);
                if (b == 0) f += Conv(outR, outR, inputs, 4 * width, 1); // downsample
                inputs = 4 * width;
                r = outR;
            }
        }
        f += Conv(r, r, 2048, 256, 1) + 3 * Conv(r, r, 2048, 256, 3) + Conv(1, 1, 2048, 256, 1) + Conv(r, r, 5 * 256, 256, 1);
        f += Conv(r, r, 256, 256, 3) + Conv(r, r, 256, classes, 1);
        if (aux) f += Conv(r, r, 1024, 256, 3) + Conv(r, r, 256, classes, 1);
        return f;
    }

    /// <summary>
    /// The reference DDPM U-Net's forward on a batch (bench/scripts/unet_speed_torch.py's architecture: base 32, 1-2-4,
    /// two residual blocks per level, attention at 7×7, time embedding 32 → 128, 16-filter output convolution).
    /// </summary>
    public static double UNetForward(int batch, int size = 28, int ch = 32, int[]? mult = null, int blocks = 2, int attnRes = 7, int emb = 128, int tch = 32)
    {
        mult ??= [1, 2, 4];
        double f = Linear(batch, tch, emb) + Linear(batch, emb, emb);
        double Res(long i, long o, long res) =>
            Conv(res, res, i, o, 3) + Linear(batch, emb, o) / batch + Conv(res, res, o, o, 3) + (i != o ? Conv(res, res, i, o, 1) : 0);
        double Attn(long c, long res) => Conv(res, res, c, 3 * c, 1) + 2 * 2.0 * res * res * res * res * c + Conv(res, res, c, c, 1);
        double perImage = Conv(size, size, 1, ch, 3);
        var skips = new Stack<long>([ch]);
        long cur = ch, r = size;
        for (int lv = 0; lv < mult.Length; lv++)
        {
            for (int b = 0; b < blocks; b++)
            {
                perImage += Res(cur, ch * mult[lv], r);
                cur = ch * mult[lv];
                if (r == attnRes) perImage += Attn(cur, r);
                skips.Push(cur);
            }
            if (lv < mult.Length - 1)
            {
                r = (r + 1) / 2;
                perImage += Conv(r, r, cur, cur, 3);
                skips.Push(cur);
            }
        }
        perImage += 2 * Res(cur, cur, r) + Attn(cur, r);
        for (int lv = mult.Length - 1; lv >= 0; lv--)
        {
            for (int b = 0; b < blocks + 1; b++)
            {
                perImage += Res(cur + skips.Pop(), ch * mult[lv], r);
                cur = ch * mult[lv];
                if (r == attnRes) perImage += Attn(cur, r);
            }
            if (lv > 0)
            {
                r *= 2;
                perImage += Conv(r, r, cur, cur, 3);
            }
        }
        perImage += Conv(size, size, cur, 16, 3);
        return f + batch * perImage;
    }
}
