using Tessera.Positional;

namespace Tessera.Attention;

/// <summary>
/// How a position encoding enters attention: by rotating q and k (RoPE), by terms added to the q·k logits
/// before scaling (Shaw, Transformer-XL, DeBERTa), by a bias added after scaling (ALiBi, T5), and by a term
/// added to the output (Shaw's value embeddings). q and k are [B, H, T, d].
/// </summary>
public abstract class AttentionPosition(string name) : torch.nn.Module(name)
{
    /// <summary>Rotates q and k (queries at offset … , keys at 0 …).</summary>
    public virtual (torch.Tensor Q, torch.Tensor K) Rotate(torch.Tensor q, torch.Tensor k, long queryOffset) => (q, k);

    /// <summary>Extra logits [B, H, Tq, Tk] added to q·kᵀ before the 1/√d scaling, or null.</summary>
    public virtual torch.Tensor? LogitTerm(torch.Tensor q, torch.Tensor k, long queryOffset) => null;

    /// <summary>Bias [1 or B, H, Tq, Tk] added to the scaled logits, or null.</summary>
    public virtual torch.Tensor? Bias(int heads, long queryLength, long keyLength, long queryOffset, torch.Device device, torch.ScalarType dtype) => null;

    /// <summary>Extra output [B, H, Tq, d] from the attention weights, or null.</summary>
    public virtual torch.Tensor? ValueTerm(torch.Tensor weights, long queryOffset) => null;

    /// <summary>The logit scale for head width d (1/√d; DeBERTa uses 1/√(3d)).</summary>
    public virtual double Scale(long headDim) => 1 / Math.Sqrt(headDim);
}

/// <summary>RoPE as an attention position: rotates q and k by their positions (any scaling, partial dims, KV-cache offset).</summary>
public sealed class RotaryPosition : AttentionPosition
{
    /// <summary>The configuration.</summary>
    public RopeConfig Config { get; private set; }

    /// <summary>Uses <paramref name="config"/> (e.g. a scaled one at inference) until the result is disposed.</summary>
    public IDisposable WithConfig(RopeConfig config)
    {
        config.Validate();
        var previous = Config;
        Config = config;
        return new Restore(() => Config = previous);
    }

    private sealed class Restore(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <summary>The pairing of channels.</summary>
    public RopePairing Pairing { get; }

    /// <summary>Creates the rotation.</summary>
    public RotaryPosition(RopeConfig config, RopePairing pairing = RopePairing.HalfSplit) : base(nameof(RotaryPosition))
    {
        config.Validate();
        (Config, Pairing) = (config, pairing);
    }

    /// <inheritdoc />
    public override (torch.Tensor Q, torch.Tensor K) Rotate(torch.Tensor q, torch.Tensor k, long queryOffset)
    {
        long tq = q.shape[2], tk = k.shape[2];
        var (inv, factor) = Rope.InverseFrequencies(Config, Math.Max(queryOffset + tq, tk));
        using var qp = torch.arange(queryOffset, queryOffset + tq, device: q.device);
        using var kp = torch.arange(0, tk, device: k.device);
        var (cq, sq) = Rope.CosSin(inv, qp, Pairing, factor, q.dtype);
        var (ck, sk) = Rope.CosSin(inv, kp, Pairing, factor, k.dtype);
        using (cq) using (sq) using (ck) using (sk)
            return (Rope.Apply(q, cq, sq, Pairing), Rope.Apply(k, ck, sk, Pairing));
    }
}

/// <summary>ALiBi as an attention position (symmetric |i − j| for encoders, i − j for causal decoders).</summary>
public sealed class AlibiPosition(bool symmetric = false) : AttentionPosition(nameof(AlibiPosition))
{
    /// <inheritdoc />
    public override torch.Tensor? Bias(int heads, long queryLength, long keyLength, long queryOffset, torch.Device device, torch.ScalarType dtype) =>
        Alibi.Bias(heads, queryLength, keyLength, queryOffset, symmetric, device, dtype);
}

/// <summary>T5's bucketed relative bias as an attention position.</summary>
public sealed class T5Position : AttentionPosition
{
    private readonly T5RelativeBias bias;

    /// <summary>Creates the learned bias.</summary>
    public T5Position(int heads, bool bidirectional, int numBuckets = 32, int maxDistance = 128) : base(nameof(T5Position))
    {
        bias = new T5RelativeBias(heads, bidirectional, numBuckets, maxDistance);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor? Bias(int heads, long queryLength, long keyLength, long queryOffset, torch.Device device, torch.ScalarType dtype) =>
        bias.forward(queryLength, keyLength, queryOffset).to(dtype);
}

/// <summary>
/// Shaw et al. (2018) relative positions: learned a^K and a^V for clipped distances clip(j − i, −k, k);
/// e_ij = q_i·(k_j + a^K_ij)/√d and z_i = Σ_j α_ij (v_j + a^V_ij). Shared across heads, as in the paper.
/// </summary>
public sealed class ShawPosition : AttentionPosition
{
    private readonly Embedding keys;
    private readonly Embedding values;

    /// <summary>Clipping distance k.</summary>
    public int Clip { get; }

    /// <summary>Creates tables of 2k + 1 rows of width <paramref name="headDim"/>.</summary>
    public ShawPosition(int headDim, int clip) : base(nameof(ShawPosition))
    {
        if (clip < 1) throw new TesseraUserException(nameof(clip), $"clipping distance k must be at least 1, got {clip}");
        Clip = clip;
        keys = torch.nn.Embedding(2 * clip + 1, headDim);
        values = torch.nn.Embedding(2 * clip + 1, headDim);
        RegisterComponents();
    }

    /// <summary>clip(j − i, −k, k) + k as [Tq, Tk] indices.</summary>
    public torch.Tensor Index(long tq, long tk, long queryOffset, torch.Device device)
    {
        using var q = torch.arange(queryOffset, queryOffset + tq, device: device).view(-1, 1);
        using var k = torch.arange(0, tk, device: device).view(1, -1);
        return (k - q).clamp(-Clip, Clip) + Clip;
    }

    /// <inheritdoc />
    public override torch.Tensor? LogitTerm(torch.Tensor q, torch.Tensor k, long queryOffset)
    {
        using var scope = torch.NewDisposeScope();
        long tq = q.shape[2], tk = k.shape[2];
        var perBucket = q.matmul(keys.weight!.t());                              // [B, H, Tq, 2k+1]
        var idx = Index(tq, tk, queryOffset, q.device).expand(q.shape[0], q.shape[1], tq, tk);
        return perBucket.gather(-1, idx).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override torch.Tensor? ValueTerm(torch.Tensor weights, long queryOffset)
    {
        using var scope = torch.NewDisposeScope();
        long b = weights.shape[0], h = weights.shape[1], tq = weights.shape[2], tk = weights.shape[3];
        var idx = Index(tq, tk, queryOffset, weights.device).expand(b, h, tq, tk);
        var perBucket = torch.zeros([b, h, tq, 2 * Clip + 1], weights.dtype, weights.device).scatter_add(-1, idx, weights);
        return perBucket.matmul(values.weight!).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Transformer-XL relative attention (Dai et al. 2019, eq. in §3.3): A_ij = q_iᵀk_j + q_iᵀW_R R_{i−j} + uᵀk_j
/// + vᵀW_R R_{i−j}, with R the sinusoidal table ([sin ‖ cos]) of the distance i − j and learned u, v per head.
/// </summary>
public sealed class TransformerXLPosition : AttentionPosition
{
    private readonly Linear wr;
    private readonly Parameter u;
    private readonly Parameter v;
    private readonly int _heads;
    private readonly int _headDim;

    /// <summary>Creates W_R (d_model → H·d), u and v.</summary>
    public TransformerXLPosition(int modelDim, int heads) : base(nameof(TransformerXLPosition))
    {
        (_heads, _headDim) = (heads, modelDim / heads);
        wr = torch.nn.Linear(modelDim, modelDim, hasBias: false);
        u = new Parameter(torch.zeros(heads, _headDim));
        v = new Parameter(torch.zeros(heads, _headDim));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor? LogitTerm(torch.Tensor q, torch.Tensor k, long queryOffset)
    {
        using var scope = torch.NewDisposeScope();
        long tq = q.shape[2], tk = k.shape[2];
        long minDist = queryOffset - (tk - 1), maxDist = queryOffset + tq - 1;
        var dist = torch.arange(minDist, maxDist + 1, dtype: torch.ScalarType.Float64, device: q.device);
        var r = Sinusoidal.Table(dist, (int)(_heads * _headDim), SinusoidLayout.Concatenated, dtype: q.dtype);
        var p = wr.forward(r).view(-1, _heads, _headDim).permute(1, 0, 2);         // [H, nD, d]
        var qPlusV = q + v.view(1, _heads, 1, _headDim);                           // (b) + (d) share W_R R
        var byDist = qPlusV.matmul(p.transpose(1, 2).unsqueeze(0));               // [B, H, Tq, nD]
        using var qi = torch.arange(queryOffset, queryOffset + tq, device: q.device).view(-1, 1);
        using var kj = torch.arange(0, tk, device: q.device).view(1, -1);
        var idx = (qi - kj - minDist).expand(q.shape[0], _heads, tq, tk);
        var positional = byDist.gather(-1, idx);
        var content = u.view(1, _heads, 1, _headDim).matmul(k.transpose(2, 3));    // (c) uᵀk_j: [B, H, 1, Tk]
        return (positional + content).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// DeBERTa's disentangled attention (He et al. 2021, eq. 4; v2's log buckets): A_ij = q_i·k_j + q_i·K^r_{δ(i,j)}
/// + k_j·Q^r_{δ(j,i)}, scaled by 1/√(3d), with δ the relative distance i − j bucketed logarithmically
/// beyond half the bucket count and clipped to the attention span.
/// </summary>
public sealed class DebertaPosition : AttentionPosition
{
    private readonly Embedding rel;
    private readonly Linear posKey;
    private readonly Linear posQuery;
    private readonly int _heads, _headDim, _buckets, _maxPosition;

    /// <summary>Creates 2·buckets relative embeddings and their key/query projections.</summary>
    public DebertaPosition(int modelDim, int heads, int positionBuckets = 256, int maxRelativePositions = 512) : base(nameof(DebertaPosition))
    {
        (_heads, _headDim, _buckets, _maxPosition) = (heads, modelDim / heads, positionBuckets, maxRelativePositions);
        rel = torch.nn.Embedding(2 * positionBuckets, modelDim);
        posKey = torch.nn.Linear(modelDim, modelDim);
        posQuery = torch.nn.Linear(modelDim, modelDim);
        RegisterComponents();
    }

    /// <summary>DeBERTa's make_log_bucket_position: exact within ±bucket/2, logarithmic beyond, up to max_position.</summary>
    public static torch.Tensor LogBucket(torch.Tensor relativePosition, int bucketSize, int maxPosition)
    {
        using var scope = torch.NewDisposeScope();
        var rp = relativePosition.to(torch.ScalarType.Float64);
        var sign = rp.sign();
        int mid = bucketSize / 2;
        var inside = (rp < mid).logical_and(rp > -mid);
        var absPos = torch.where(inside, torch.full_like(rp, mid - 1), rp.abs());
        var logPos = torch.ceil(torch.log(absPos / mid) / Math.Log((maxPosition - 1.0) / mid) * (mid - 1)) + mid;
        return torch.where(absPos <= mid, rp, logPos * sign).to(torch.ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override double Scale(long headDim) => 1 / Math.Sqrt(3.0 * headDim);

    /// <inheritdoc />
    public override torch.Tensor? LogitTerm(torch.Tensor q, torch.Tensor k, long queryOffset)
    {
        using var scope = torch.NewDisposeScope();
        long b = q.shape[0], tq = q.shape[2], tk = k.shape[2];
        int span = _buckets;
        using var qi = torch.arange(queryOffset, queryOffset + tq, device: q.device).view(-1, 1);
        using var kj = torch.arange(0, tk, device: q.device).view(1, -1);
        var relPos = LogBucket(qi - kj, _buckets, _maxPosition);                      // δ(i, j) = i − j, [Tq, Tk]
        var table = rel.weight!;                                                        // [2·span, D]
        var kr = posKey.forward(table).view(2 * span, _heads, _headDim).permute(1, 0, 2);    // [H, 2span, d]
        var qr = posQuery.forward(table).view(2 * span, _heads, _headDim).permute(1, 0, 2);
        // c2p: q_i · K^r at index clamp(δ(i,j) + span)
        var c2p = q.matmul(kr.transpose(1, 2).unsqueeze(0));                           // [B, H, Tq, 2span]
        var c2pIdx = (relPos + span).clamp(0, 2 * span - 1).expand(b, _heads, tq, tk);
        var c2pTerm = c2p.gather(-1, c2pIdx);
        // p2c: k_j · Q^r at index clamp(−δ(i,j) + span)
        var p2c = k.matmul(qr.transpose(1, 2).unsqueeze(0));                           // [B, H, Tk, 2span]
        var p2cIdx = (-relPos + span).clamp(0, 2 * span - 1).t().expand(b, _heads, tk, tq);
        var p2cTerm = p2c.gather(-1, p2cIdx).transpose(2, 3);
        return (c2pTerm + p2cTerm).MoveToOuterDisposeScope();
    }
}
