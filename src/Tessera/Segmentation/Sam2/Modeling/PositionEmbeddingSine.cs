using Tessera.Positional;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// The fixed 2-D sine position encoding of DETR (Carion et al. 2020, its <c>PositionEmbeddingSine</c>), as SAM 2's neck and memory encoder use
/// it (the official <c>position_encoding.PositionEmbeddingSine</c>): each row index y and column index x (from 1) is
/// normalised to (0, 2π] (y·2π/(H + 10⁻⁶)), and encoded with <see cref="Sinusoidal.Table(torch.Tensor, int, SinusoidLayout, double, torch.ScalarType)"/>
/// in d/2 interleaved channels, PE(p)₂ᵢ = sin(p/T^(2i/(d/2))), PE(p)₂ᵢ₊₁ = cos(p/T^(2i/(d/2))) (Vaswani et al. 2017,
/// §3.5); the map is [PE(y) ‖ PE(x)] per position, [B, d, H, W]. No parameters.
/// </summary>
public sealed class PositionEmbeddingSine : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly int _dim;
    private readonly double _temperature;
    private readonly double? _scale;

    /// <summary>The channels of the encoding (the official <c>num_pos_feats</c>).</summary>
    public int Dim => _dim;

    /// <summary>Creates the encoding with <paramref name="dim"/> channels (even); <paramref name="normalize"/> with <paramref name="scale"/> (default 2π) as the official arguments.</summary>
    /// <exception cref="ArgumentException"><paramref name="dim"/> is not a positive multiple of 4 (each axis takes sin/cos pairs).</exception>
    public PositionEmbeddingSine(int dim, double temperature = 10000, bool normalize = true, double? scale = null) : base(nameof(PositionEmbeddingSine))
    {
        if (dim < 4 || dim % 4 != 0) throw new ArgumentException($"sine position encoding width must be a positive multiple of 4, got {dim}", nameof(dim));
        if (scale is not null && !normalize) throw new ArgumentException("a scale needs normalize", nameof(scale));
        _dim = dim;
        _temperature = temperature;
        _scale = normalize ? scale ?? 2 * Math.PI : null;
    }

    /// <summary>The encoding [1, d, <paramref name="h"/>, <paramref name="w"/>] (float32).</summary>
    public torch.Tensor Map(long h, long w, torch.Device? device = null)
    {
        using var scope = torch.NewDisposeScope();
        var py = Axis(h, device);
        var px = Axis(w, device);
        var y = py.unsqueeze(1).expand(h, w, -1);
        var x = px.unsqueeze(0).expand(h, w, -1);
        return torch.cat([y, x], 2).permute(2, 0, 1).unsqueeze(0).contiguous().MoveToOuterDisposeScope();
    }

    // [n, d/2] for positions 1 … n, normalised as the official code does it in float32.
    private torch.Tensor Axis(long n, torch.Device? device)
    {
        using var scope = torch.NewDisposeScope();
        var p = torch.arange(1, n + 1, dtype: torch.ScalarType.Float32, device: device);
        if (_scale is { } scale)
        {
            using var last = torch.tensor((float)n + 1e-6f, device: device);
            using var s = scale.ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
            p = p / last * s;
        }
        return Sinusoidal.Table(p, _dim / 2, SinusoidLayout.Interleaved, _temperature).MoveToOuterDisposeScope();
    }

    /// <summary>The encoding [B, d, H, W] for a map [B, C, H, W] (its values unused), in the map's type.</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        // The map depends on the grid size and device only: built once per size (the 256² level of a 1024² image took
        // 71 ms of SAM 2's 136 ms neck at 2 threads, against a copy of the cached map).
        var key = (x.shape[2], x.shape[3], x.device.type, x.device.index);
        torch.Tensor map;
        lock (_maps)
        {
            if (!_maps.TryGetValue(key, out map!))
                _maps[key] = map = Map(x.shape[2], x.shape[3], x.device).DetachFromDisposeScope();
        }
        // A copy: callers own what they get.
        return map.expand(x.shape[0], -1, -1, -1).to(x.dtype).clone();
    }

    private readonly Dictionary<(long H, long W, DeviceType Type, int Index), torch.Tensor> _maps = [];

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_maps)
            {
                foreach (var m in _maps.Values) m.Dispose();
                _maps.Clear();
            }
        }
        base.Dispose(disposing);
    }
}
