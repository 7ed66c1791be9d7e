using Tessera.Positional;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's attention with 2-D axial rotary position encoding (<c>RoPEAttention</c>; Ravi et al. 2024, "SAM 2: Segment
/// Anything in Images and Videos", §4 "memory attention"): q, k and v projected (k and v from a width of their own),
/// split into heads, queries and keys rotated by RoPE (Su et al., RoFormer, eq. 34) with the axial frequencies of
/// Heo et al. 2024 (eq. 12, <see cref="Rope2D.AxialAngles"/>, θᵢ = base^(−4i/d)) at the tokens' positions on a square
/// √N × √N grid, softmax(q kᵀ/√d) v, output projection. Keys longer than the queries (memories of several frames)
/// repeat the queries' rotations frame by frame; the last <c>numKExcludeRope</c> keys (object pointers) are not rotated.
/// </summary>
public sealed class Sam2RopeAttention : DecoderAttention
{
    private readonly double _theta;
    private readonly bool _repeatKeys;
    private (long Tokens, torch.Tensor Cos, torch.Tensor Sin)? _tables;

    /// <summary>Creates the layer: width <paramref name="dim"/>, keys and values of width <paramref name="kvDim"/>.</summary>
    public Sam2RopeAttention(int dim, int heads, int kvDim, bool repeatKeys, double theta = 10000, int downsampleRate = 1)
        : base(dim, heads, kvDim, downsampleRate, nameof(Sam2RopeAttention))
    {
        _theta = theta;
        _repeatKeys = repeatKeys;
    }

    /// <summary>Attention of queries [B, N, C] (a square grid of N tokens) over keys and values [B, M, C_kv].</summary>
    public override torch.Tensor forward(torch.Tensor q, torch.Tensor k, torch.Tensor v) => Forward(q, k, v, 0);

    /// <summary>As <see cref="forward"/>, the last <paramref name="numKExcludeRope"/> keys left unrotated.</summary>
    public torch.Tensor Forward(torch.Tensor q, torch.Tensor k, torch.Tensor v, long numKExcludeRope) =>
        Direct(q, k, v, (qh, kh) => Rotate(qh, kh, numKExcludeRope));

    private (torch.Tensor Q, torch.Tensor K) Rotate(torch.Tensor qh, torch.Tensor kh, long numKExcludeRope)
    {
        long n = qh.shape[2], rotated = kh.shape[2] - numKExcludeRope;
        var (cos, sin) = Tables(n, qh.device);
        qh = Rope.Apply(qh, cos, sin, RopePairing.Interleaved);
        if (rotated > 0)
        {
            if (rotated % n != 0 || (rotated != n && !_repeatKeys))
                throw new TesseraUserException("k", $"{rotated} rotated keys do not repeat the {n} query positions");
            long r = rotated / n;
            var kc = r == 1 ? cos : cos.repeat(r, 1);
            var ks = r == 1 ? sin : sin.repeat(r, 1);
            var kr = Rope.Apply(kh.narrow(2, 0, rotated), kc, ks, RopePairing.Interleaved);
            kh = numKExcludeRope > 0 ? torch.cat([kr, kh.narrow(2, rotated, numKExcludeRope)], 2) : kr;
        }
        return (qh, kh);
    }

    private (torch.Tensor Cos, torch.Tensor Sin) Tables(long tokens, torch.Device device)
    {
        if (_tables is { } t && t.Tokens == tokens && t.Cos.device == device) return (t.Cos, t.Sin);
        int side = (int)Math.Round(Math.Sqrt(tokens));
        if ((long)side * side != tokens) throw new TesseraUserException("q", $"{tokens} query tokens are not a square grid");
        using var scope = torch.NewDisposeScope();
        using var positions = Rope2D.GridPositions(side, side, device);
        using var angles = Rope2D.AxialAngles(positions, HeadDim, _theta);
        var (cos, sin) = Rope2D.FromAngles(angles);
        _tables?.Cos.Dispose();
        _tables?.Sin.Dispose();
        // the cached tables outlive any caller's dispose scope
        _tables = (tokens, cos.DetachFromDisposeScope(), sin.DetachFromDisposeScope());
        return (_tables.Value.Cos, _tables.Value.Sin);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _tables?.Cos.Dispose();
            _tables?.Sin.Dispose();
            _tables = null;
        }
        base.Dispose(disposing);
    }
}
