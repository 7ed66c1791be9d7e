using Tessera.Positional;

namespace Tessera.Attention;

/// <summary>
/// Linear attention (Katharopoulos et al. 2020) with φ(x) = elu(x) + 1, and RoPE as RoFormer §3.3 (eq. 19)
/// combines them: the rotation acts in the numerator only,
/// out_m = Σ_n (R_m φ(q_m))ᵀ(R_n φ(k_n))·v_n / Σ_n φ(q_m)ᵀφ(k_n),
/// computed in O(T) memory: Σ_n (R_nφ(k_n))v_nᵀ once (non-causal) or as a running sum (causal).
/// </summary>
public static class LinearAttention
{
    /// <summary>φ(x) = elu(x) + 1.</summary>
    public static torch.Tensor FeatureMap(torch.Tensor x) => torch.nn.functional.elu(x, 1.0, false) + 1;

    /// <summary>φ(q), φ(k) and their rotations R·φ(q), R·φ(k) (the same tensors when there is no RoPE table).</summary>
    private static (torch.Tensor Fq, torch.Tensor Fk, torch.Tensor Rq, torch.Tensor Rk) Features(torch.Tensor q, torch.Tensor k, torch.Tensor? cos, torch.Tensor? sin, RopePairing pairing)
    {
        var fq = FeatureMap(q);
        var fk = FeatureMap(k);
        return cos is null ? (fq, fk, fq, fk) : (fq, fk, Rope.Apply(fq, cos, sin!, pairing), Rope.Apply(fk, cos, sin!, pairing));
    }

    /// <summary>
    /// q, k [B, H, T, d], v [B, H, T, dv]; cos/sin [T, d] of a RoPE table for the numerator (null for plain
    /// linear attention). Returns [B, H, T, dv].
    /// </summary>
    public static torch.Tensor Forward(torch.Tensor q, torch.Tensor k, torch.Tensor v, bool causal, torch.Tensor? cos = null, torch.Tensor? sin = null, RopePairing pairing = RopePairing.HalfSplit, double eps = 1e-6)
    {
        using var scope = torch.NewDisposeScope();
        var (fq, fk, rq, rk) = Features(q, k, cos, sin, pairing);
        torch.Tensor num, den;
        if (!causal)
        {
            var kv = rk.transpose(2, 3).matmul(v);                      // [B, H, d, dv]
            num = rq.matmul(kv);                                        // [B, H, T, dv]
            den = fq.matmul(fk.sum(2).unsqueeze(-1));                   // [B, H, T, 1]
        }
        else
        {
            // Running sums S_m = Σ_{n≤m} R_nφ(k_n) v_nᵀ and z_m = Σ_{n≤m} φ(k_n), over the time axis.
            var kv = (rk.unsqueeze(-1) * v.unsqueeze(-2)).cumsum(2);    // [B, H, T, d, dv]
            num = rq.unsqueeze(-2).matmul(kv).squeeze(-2);
            var z = fk.cumsum(2);                                       // [B, H, T, d]
            den = (fq * z).sum(-1, keepdim: true);
        }
        return (num / (den + eps)).MoveToOuterDisposeScope();
    }

    /// <summary>The quadratic reference: A_mn = (R_mφ(q_m))·(R_nφ(k_n)) / Σ_n φ(q_m)·φ(k_n), masked for causal; O(T²) memory.</summary>
    public static torch.Tensor Quadratic(torch.Tensor q, torch.Tensor k, torch.Tensor v, bool causal, torch.Tensor? cos = null, torch.Tensor? sin = null, RopePairing pairing = RopePairing.HalfSplit, double eps = 1e-6)
    {
        using var scope = torch.NewDisposeScope();
        var (fq, fk, rq, rk) = Features(q, k, cos, sin, pairing);
        var a = rq.matmul(rk.transpose(2, 3));
        var plain = fq.matmul(fk.transpose(2, 3));
        if (causal)
        {
            long t = q.shape[2];
            var keep = torch.ones(t, t, dtype: torch.ScalarType.Bool, device: q.device).tril();
            a = a.masked_fill(keep.logical_not(), 0);
            plain = plain.masked_fill(keep.logical_not(), 0);
        }
        return (a.matmul(v) / (plain.sum(-1, keepdim: true) + eps)).MoveToOuterDisposeScope();
    }
}
