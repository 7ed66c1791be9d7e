using F = TorchSharp.torch.nn.functional;

namespace Tessera.Bench;

/// <summary>
/// Issue 28: where the SAM ViT-B encoder's time goes, op by op, on the encoder's own shapes (1024² input: 8 windowed
/// blocks of 25 windows of 14² tokens padded from 64², 4 global blocks of 64² tokens; width 768, 12 heads, MLP 3072).
/// Each op is timed alone (median of `reps` calls after one warm-up, wall time) and multiplied by how often one
/// encoder pass runs it; the sum is set against the encoder measured whole in the same process. Attention in global
/// blocks is timed one head at a time (what the one-thread path does in 4 MB chunks, here per head).
/// `samops [threads] [reps] [fp32|bf16]`.
/// </summary>
internal static class SamOpsBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = BenchSetup.Arg(args, 1, 5);
        var precision = BenchSetup.PrecisionAt(args, 2);
        var t = precision.ScalarType();
        var f32 = torch.ScalarType.Float32;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        const int C = 768, Heads = 12, Hd = 64, Mlp = 3072;
        var xWin = torch.randn(4900, C, dtype: t);
        var xGlob = torch.randn(4096, C, dtype: t);
        var wQkv = torch.randn(3 * C, C, dtype: t) * 0.02;
        var bQkv = torch.zeros(3 * C, dtype: t);
        var wProj = torch.randn(C, C, dtype: t) * 0.02;
        var w1 = torch.randn(Mlp, C, dtype: t) * 0.02;
        var w2 = torch.randn(C, Mlp, dtype: t) * 0.02;
        var hidden = torch.randn(4096, Mlp, dtype: t);
        var lnW = torch.ones(C, dtype: t);
        var lnB = torch.zeros(C, dtype: t);
        // attention operands: windowed [25·12, 196, 64], global one head [1, 4096, 64]
        var qW = torch.randn(300, 196, Hd, dtype: t);
        var kW = torch.randn(300, Hd, 196, dtype: t);
        var vW = torch.randn(300, 196, Hd, dtype: t);
        var qG = torch.randn(1, 4096, Hd, dtype: t);
        var kG = torch.randn(1, Hd, 4096, dtype: t);
        var vG = torch.randn(1, 4096, Hd, dtype: t);
        var relTableW = torch.randn(14, 14, Hd, dtype: f32);
        var relTableG = torch.randn(64, 64, Hd, dtype: f32);
        var grid = torch.randn(1, 64, 64, C, dtype: t);
        bool lower = t != f32;
        var logitsW = torch.matmul(qW, kW);
        var logitsG = torch.matmul(qG, kG);
        var ops = new (string Name, string Group, int Count, Action Call)[]
        {
            ("qkv linear, windowed 4900x768->2304", "linear", 8, () => F.linear(xWin, wQkv, bQkv).Dispose()),
            ("qkv linear, global 4096x768->2304", "linear", 4, () => F.linear(xGlob, wQkv, bQkv).Dispose()),
            ("proj linear, windowed 4900x768->768", "linear", 8, () => F.linear(xWin, wProj).Dispose()),
            ("proj linear, global 4096x768->768", "linear", 4, () => F.linear(xGlob, wProj).Dispose()),
            ("MLP fc1 4096x768->3072", "linear", 12, () => F.linear(xGlob, w1).Dispose()),
            ("MLP fc2 4096x3072->768", "linear", 12, () => F.linear(hidden, w2).Dispose()),
            ("GELU 4096x3072", "gelu", 12, () => F.gelu(hidden).Dispose()),
            ("layer norm 4096x768", "layernorm", 24, () => F.layer_norm(xGlob, [C], lnW, lnB, 1e-6).Dispose()),
            ("q.k^T windowed 300x196x64", "attention matmul", 8, () => torch.matmul(qW, kW).Dispose()),
            ("q.k^T global, one head 4096x64x4096", "attention matmul", 4 * Heads, () => torch.matmul(qG, kG).Dispose()),
            ("softmax.v windowed", "attention matmul", 8, () => torch.matmul(Soft(qW, kW), vW).Dispose()),
            ("softmax.v global, one head", "attention matmul", 4 * Heads, () => torch.matmul(Soft(qG, kG), vG).Dispose()),
            ("softmax windowed 300x196x196", "softmax", 8, () => Soft(qW, kW).Dispose()),
            ("softmax global, one head 4096x4096", "softmax", 4 * Heads, () => Soft(qG, kG).Dispose()),
            // Issue 28: the float32 island the encoder had at a lower precision (logits, rel-pos terms and softmax in
            // float32), for comparison; not counted in the groups.
            ("old float32 island: softmax windowed", "", 8, () => Island(qW, kW, relTableW, 14, lower)),
            ("old float32 island: softmax global one head", "", 4 * Heads, () => Island(qG, kG, relTableG, 64, lower)),
            // At a lower precision the encoder folds the rel-pos terms into q.k^T (inner width 64 + 2 side); compare
            // with the q.k^T rows above plus the rel-pos rows (their einsums and in-place additions).
            ("q.k^T with rel-pos folded in, windowed (K 92)", "", 8, () => torch.matmul(Widen(qW, 28), Widen(kW.transpose(1, 2), 28).transpose(1, 2)).Dispose()),
            ("q.k^T with rel-pos folded in, global one head (K 192)", "", 4 * Heads, () => torch.matmul(Widen(qG, 128), Widen(kG.transpose(1, 2), 128).transpose(1, 2)).Dispose()),
            ("rel-pos terms windowed (2 einsums + adds)", "rel-pos", 8, () => RelPos(qW, logitsW, relTableW, 14)),
            ("rel-pos terms global, one head", "rel-pos", 4 * Heads, () => RelPos(qG, logitsG, relTableG, 64)),
            ("window partition + unpartition 64²->70²", "copies", 8, () => Windows(grid)),
        };
        // The non-attention parts of softmax.v include computing the softmax input; subtract the softmax rows to read them.
        // Process CPU time per call (on a loaded machine steadier than wall time; at one thread the work done), and wall time.
        var medians = new double[ops.Length];
        var walls = new double[ops.Length];
        var process = Process.GetCurrentProcess();
        for (int i = 0; i < ops.Length; i++)
        {
            ops[i].Call();
            var times = new List<double>();
            var wall = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                using var s = torch.NewDisposeScope();
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                ops[i].Call();
                wall.Add(sw.Elapsed.TotalMilliseconds);
                process.Refresh();
                times.Add((process.TotalProcessorTime - cpu).TotalMilliseconds);
            }
            medians[i] = times.Order().ElementAt(times.Count / 2);
            walls[i] = wall.Order().ElementAt(wall.Count / 2);
        }
        Console.WriteLine($"SAM ViT-B encoder op by op, {EnumNames.Name(precision)}, {threads} threads, median of {reps}, process CPU ms (wall ms); load {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"{"op",-44} {"ms/call",9} {"(wall)",9} {"calls",6} {"ms/encoder",11}");
        for (int i = 0; i < ops.Length; i++)
            Console.WriteLine(FormattableString.Invariant($"{ops[i].Name,-44} {medians[i],9:0.00} {walls[i],9:0.00} {ops[i].Count,6} {medians[i] * ops[i].Count,11:0.0}"));
        Console.WriteLine("by group (softmax.v rows include their softmax; 'attention matmul' below has it taken out):");
        var groups = new Dictionary<string, double>();
        for (int i = 0; i < ops.Length; i++)
        {
            if (ops[i].Group.Length == 0) continue;
            double ms = medians[i] * ops[i].Count;
            if (ops[i].Name.StartsWith("softmax.v", StringComparison.Ordinal)) ms -= medians[i + 2] * ops[i + 2].Count;
            groups[ops[i].Group] = groups.GetValueOrDefault(ops[i].Group) + ms;
        }
        double total = groups.Values.Sum();
        foreach (var (g, ms) in groups.OrderByDescending(kv => kv.Value))
            Console.WriteLine(FormattableString.Invariant($"  {g,-20} {ms,9:0.0} ms  {100 * ms / total,5:0.0} %"));
        Console.WriteLine(FormattableString.Invariant($"  {"sum",-20} {total,9:0.0} ms"));
    }

    // Logits and softmax as the encoder computes them (in the value type; libtorch's softmax accumulates in float32).
    private static torch.Tensor Soft(torch.Tensor q, torch.Tensor k) => torch.matmul(q, k).softmax(-1);

    // The relative-position terms (float32 from the queries, rounded to the logits' type) added in place, as VitAttention does.
    private static void RelPos(torch.Tensor q, torch.Tensor logits, torch.Tensor table, int side)
    {
        using var scope = torch.NewDisposeScope();
        long b = q.shape[0];
        var rq = q.reshape(b, side, side, -1).to(torch.ScalarType.Float32);
        var relH = torch.einsum("bhwc,hkc->bhwk", rq, table).to(logits.dtype).unsqueeze(4);
        var relW = torch.einsum("bhwc,wkc->bhwk", rq, table).to(logits.dtype).unsqueeze(3);
        logits.view(b, side, side, side, side).add_(relH).add_(relW);
    }

    // The operand with `extra` more columns (what folding the rel-pos terms into the product adds).
    private static torch.Tensor Widen(torch.Tensor x, int extra) =>
        torch.cat([x, torch.zeros([x.shape[0], x.shape[1], extra], x.dtype)], -1);

    // What the encoder did before (issue 28): at a lower precision, logits converted to float32, float32 rel-pos terms
    // added, float32 softmax converted back — the logit-sized work of one attention without its two products' share.
    private static void Island(torch.Tensor q, torch.Tensor k, torch.Tensor table, int side, bool lower)
    {
        if (!lower) return;
        using var scope = torch.NewDisposeScope();
        long b = q.shape[0];
        var logits = torch.matmul(q, k).to(torch.ScalarType.Float32);
        var rq = q.reshape(b, side, side, -1).to(torch.ScalarType.Float32);
        var relH = torch.einsum("bhwc,hkc->bhwk", rq, table).unsqueeze(4);
        var relW = torch.einsum("bhwc,wkc->bhwk", rq, table).unsqueeze(3);
        logits.view(b, side, side, side, side).add_(relH).add_(relW);
        logits.softmax(-1).to(q.dtype);
    }

    private static void Windows(torch.Tensor grid)
    {
        using var scope = torch.NewDisposeScope();
        var (w, padded) = Segmentation.Sam.Modeling.Windows.Partition(grid, 14);
        Segmentation.Sam.Modeling.Windows.Unpartition(w, 14, padded, (64, 64));
    }
}
