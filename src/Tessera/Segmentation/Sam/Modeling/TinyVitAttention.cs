using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's window attention with LeViT's attention bias (Graham et al. 2021, §4.2 "attention bias"):
/// softmax(q·kᵀ/√d + B[|Δy|·r + |Δx|]) v over the r × r tokens of a window, with a learned bias per head and
/// per absolute offset, after a LayerNorm of the input. qkv is laid out per head as [q, k, v] (the official
/// <c>view(B, N, heads, −1).split([d, d, d])</c>). The offset index table is derived from the window
/// (a non-persistent buffer in the official code, so not in the checkpoints).
/// </summary>
public sealed class TinyVitAttention : Module<torch.Tensor, torch.Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear qkv, proj;
    private readonly Parameter attention_biases;
    private readonly IndexTable _biasIndex;
    private readonly int _heads, _headDim;
    private readonly double _scale;

    /// <summary>Creates the layer for <paramref name="dim"/> channels in <paramref name="heads"/> heads over <paramref name="window"/> × <paramref name="window"/> windows.</summary>
    public TinyVitAttention(int dim, int heads, int window) : base(nameof(TinyVitAttention))
    {
        _heads = heads;
        _headDim = dim / heads;
        _scale = Math.Pow(_headDim, -0.5);
        norm = LayerNorm(dim);
        qkv = Linear(dim, 3 * dim);
        proj = Linear(dim, dim);
        attention_biases = new Parameter(torch.zeros(heads, window * window));
        _biasIndex = new IndexTable(OffsetIndex(window).DetachFromDisposeScope());
        RegisterComponents();
    }

    /// <summary>
    /// The bias index of every (query, key) pair of an r × r window, tokens in row-major order:
    /// |Δy|·r + |Δx| (the official table numbers the offsets in order of first appearance, which is this).
    /// </summary>
    public static torch.Tensor OffsetIndex(int window)
    {
        int n = window * window;
        var idx = new long[n * n];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                idx[a * n + b] = Math.Abs(a / window - b / window) * window + Math.Abs(a % window - b % window);
        return torch.tensor(idx, [n, n]);
    }

    /// <summary>The offset index table [r², r²] (what the official <c>attention_bias_idxs</c> buffer holds).</summary>
    public torch.Tensor BiasIndex => _biasIndex.Cpu;

    // The index table, kept out of the module's tensors (not a parameter, not in the state dict), with a copy on
    // the device last used.
    private sealed class IndexTable(torch.Tensor cpu)
    {
        private torch.Tensor? _onDevice;

        public torch.Tensor Cpu { get; } = cpu;

        public torch.Tensor On(torch.Device device)
        {
            if (device.type == DeviceType.CPU) return Cpu;
            if (_onDevice is null || _onDevice.device != device)
            {
                _onDevice?.Dispose();
                _onDevice = Cpu.to(device).DetachFromDisposeScope();
            }
            return _onDevice;
        }
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        // In inference the product runs without its bias: the queries take theirs here, the keys' cancels in the softmax
        // and the values' moves into proj's bias (QkvBias).
        var h = norm.forward(x);
        bool folded = QkvBias.Applies(qkv, proj, h);
        var parts = (folded ? functional.linear(h, qkv.weight!) : qkv.forward(h)).view(b, n, _heads, 3 * _headDim).permute(0, 2, 1, 3).split(_headDim, 3);
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        var biases = folded ? qkv.bias!.view(_heads, 1, 3, _headDim) : null; // per head [q, k, v], broadcast over [B, heads, N, d]
        if (biases is not null) q = q + biases.select(2, 0);
        var index = _biasIndex.On(x.device);
        var bias = attention_biases.index_select(1, index.view(-1)).view(_heads, n, n);
        torch.Tensor weights;
        if (!q.requires_grad && !bias.requires_grad && WindowBiasSoftmax.Supported(q, (int)n))
        {
            // Without autograd on an AVX-512 CPU: scale, bias and softmax in one pass over each row of the product, in
            // float32, rounded once (issue 27, session 6).
            weights = torch.matmul(q, k.transpose(-2, -1));
            WindowBiasSoftmax.ApplyInPlace(weights, bias.contiguous(), _scale);
        }
        else
        {
            using var scale = _scale.ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
            var logits = torch.matmul(q, k.transpose(-2, -1)).mul_(scale);
            // Issue 28 (EncoderPrecision): at a lower precision the bias stays float32, so the rounded logits are widened and
            // the bias added and the softmax taken in float32, then the weights rounded for the product with v — what
            // autocast's type promotion does to the official (q·kᵀ)·scale + ab.
            weights = logits.dtype == bias.dtype ? logits.add_(bias).softmax(-1) : logits.to(bias.dtype).add_(bias).softmax(-1).to(logits.dtype);
        }
        var y = torch.matmul(weights, v).transpose(1, 2).reshape(b, n, -1);
        return (biases is null ? proj.forward(y) : QkvBias.Project(proj, y, biases.select(2, 2).reshape(-1))).MoveToOuterDisposeScope();
    }
}
