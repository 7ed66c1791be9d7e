namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Decomposed relative position bias of MViTv2 (Li et al. 2022, "MViTv2", eq. 4), as SAM's image encoder
/// uses it: the logit of query (i, j) for key (i', j') gains ⟨q, R^h[i − i']⟩ + ⟨q, R^w[j − j']⟩.
/// </summary>
public static class RelativePosition
{
    /// <summary>
    /// Relative-position embeddings for every (query, key) pair along one axis: [q, k, C]. A table whose
    /// length is not 2·max(q, k) − 1 is linearly interpolated to that length first; when q ≠ k the
    /// coordinates are scaled to the longer axis (and truncated to integer indexes), as in the official code.
    /// </summary>
    public static torch.Tensor Get(int querySize, int keySize, torch.Tensor table)
    {
        using var scope = torch.NewDisposeScope();
        int maxDist = 2 * Math.Max(querySize, keySize) - 1;
        torch.Tensor resized = table;
        if (table.shape[0] != maxDist)
        {
            var line = table.reshape(1, table.shape[0], -1).permute(0, 2, 1);
            resized = torch.nn.functional.interpolate(line, size: [maxDist], mode: torch.InterpolationMode.Linear, align_corners: false)
                .reshape(-1, maxDist).permute(1, 0);
        }
        // Coordinates in float32 as the reference computes them (int arange times a Python float), then truncated.
        double qScale = Math.Max((double)keySize / querySize, 1.0), kScale = Math.Max((double)querySize / keySize, 1.0);
        // Scalars held for the call: a temporary Scalar may be finalized by the GC on another thread mid-call.
        using var qs = qScale.ToScalar();
        using var ks = kScale.ToScalar();
        using var offset = ((keySize - 1) * kScale).ToScalar();
        var q = torch.arange(querySize, torch.ScalarType.Float32, device: table.device).unsqueeze(1) * qs;
        var k = torch.arange(keySize, torch.ScalarType.Float32, device: table.device).unsqueeze(0) * ks;
        var index = (q - k + offset).to(torch.ScalarType.Int64);
        return resized[index].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adds the decomposed relative position terms to attention logits [B, qh·qw, kh·kw], with the
    /// (unscaled) queries [B, qh·qw, C] and the tables for height and width.
    /// </summary>
    public static torch.Tensor AddDecomposed(torch.Tensor logits, torch.Tensor q, torch.Tensor tableH, torch.Tensor tableW, (int H, int W) querySize, (int H, int W) keySize)
    {
        using var scope = torch.NewDisposeScope();
        var rh = Get(querySize.H, keySize.H, tableH);
        var rw = Get(querySize.W, keySize.W, tableW);
        long b = q.shape[0], c = q.shape[2];
        var rq = q.reshape(b, querySize.H, querySize.W, c);
        var relH = torch.einsum("bhwc,hkc->bhwk", rq, rh);
        var relW = torch.einsum("bhwc,wkc->bhwk", rq, rw);
        var sum = logits.view(b, querySize.H, querySize.W, keySize.H, keySize.W) + relH.unsqueeze(4) + relW.unsqueeze(3);
        return sum.view(b, querySize.H * querySize.W, keySize.H * keySize.W).MoveToOuterDisposeScope();
    }
}
