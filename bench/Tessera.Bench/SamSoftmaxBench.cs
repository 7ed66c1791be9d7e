using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Bench;

/// <summary>
/// Issue 28: one chunk of SAM ViT-B's attention weights, libtorch's ops against <see cref="DecomposedBiasSoftmax"/>,
/// on the encoder's own shapes: a global block's 512 queries × 4096 keys of one head (bfloat16 and float32) and a
/// windowed block's 54 windows·heads of 196 × 196 (bfloat16). libtorch's path is what the encoder ran before the
/// fused kernel: bfloat16 — the two relative-position terms summed in float32, rounded, and added by the product
/// (baddbmm), then softmax; float32 — the product, the two terms added in place, softmax. The fused path: the bare
/// product, then the kernel. Rounds alternate the variants; medians of 5 rounds of `reps` calls.
/// `samsoftmax [threads] [reps]`.
/// </summary>
internal static class SamSoftmaxBench
{
    public static void Run(string[] args)
    {
        int threads = BenchSetup.Torch(args);
        int reps = BenchSetup.Arg(args, 1, 200);
        using var _ = torch.no_grad();
        var bf = torch.ScalarType.BFloat16;
        var f32 = torch.ScalarType.Float32;
        torch.manual_seed(0);
        // Global block: one head, 8 query rows of the 64 × 64 grid.
        var q = torch.randn(1, 512, 64).to(bf);
        var kt = torch.randn(1, 64, 4096).to(bf);
        var q32 = q.to(f32);
        var kt32 = kt.to(f32);
        var termH = torch.randn([1, 8, 64, 64, 1]);
        var termW = torch.randn([1, 8, 64, 1, 64]);
        var rowsH = termH.reshape(512, 64).contiguous();
        var rowsW = termW.reshape(512, 64).contiguous();
        // Windowed block: 54 windows·heads of 14 × 14.
        var wq = torch.randn(54, 196, 64).to(bf);
        var wkt = torch.randn(54, 64, 196).to(bf);
        var winH = torch.randn([54, 14, 14, 14, 1]);
        var winW = torch.randn([54, 14, 14, 1, 14]);
        var winRowsH = winH.reshape(54 * 196, 14).contiguous();
        var winRowsW = winW.reshape(54 * 196, 14).contiguous();
        if (!DecomposedBiasSoftmax.Supported(q, 64, 64))
        {
            Console.WriteLine("samsoftmax: the fused kernel does not run here (it needs AVX-512 and libtorch's libgomp)");
            return;
        }
        var cases = new (string Name, Action Libtorch, Action Fused)[]
        {
            ("global block chunk 512x4096, bf16",
                () => q.baddbmm(kt, termH.add(termW).to(bf).reshape(1, 512, 4096)).softmax(-1),
                () => DecomposedBiasSoftmax.ApplyInPlace(q.bmm(kt).view(512, 4096), rowsH, rowsW, 64, 64)),
            ("global block chunk 512x4096, fp32",
                () => q32.bmm(kt32).view(1, 8, 64, 64, 64).add_(termH).add_(termW).view(1, 512, 4096).softmax(-1),
                () => DecomposedBiasSoftmax.ApplyInPlace(q32.bmm(kt32).view(512, 4096), rowsH, rowsW, 64, 64)),
            ("windowed block chunk 54x196x196, bf16",
                () => wq.baddbmm(wkt, winH.add(winW).to(bf).reshape(54, 196, 196)).softmax(-1),
                () => DecomposedBiasSoftmax.ApplyInPlace(wq.bmm(wkt).view(54 * 196, 196), winRowsH, winRowsW, 14, 14)),
        };
        foreach (var (name, libtorch, fused) in cases)
        {
            double Time(Action a)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++) { using var s = torch.NewDisposeScope(); a(); }
                return sw.Elapsed.TotalMilliseconds / reps;
            }
            Time(libtorch); Time(fused); // warm-up
            var a = new List<double>();
            var b = new List<double>();
            for (int round = 0; round < 5; round++)
            {
                if (round % 2 == 0) { a.Add(Time(libtorch)); b.Add(Time(fused)); }
                else { b.Add(Time(fused)); a.Add(Time(libtorch)); }
            }
            double ma = a.Order().ElementAt(2), mb = b.Order().ElementAt(2);
            Console.WriteLine(FormattableString.Invariant(
                $"{name}, {threads} threads: product + terms + softmax, libtorch {ma:0.000} ms, fused {mb:0.000} ms, speed {ma / mb:0.00}x (rounds: {string.Join(' ', a.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))} / {string.Join(' ', b.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))})"));
        }
    }
}
