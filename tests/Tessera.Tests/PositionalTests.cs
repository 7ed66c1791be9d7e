using Tessera.Applications;
using Tessera.Attention;
using Tessera.Positional;

namespace Tessera.Tests;

public class PositionalTests
{
    private static double MaxAbs(torch.Tensor a, torch.Tensor b) => (a - b).abs().max().to(torch.ScalarType.Float64).item<double>();

    private static torch.Tensor Rotate(torch.Tensor x, long position, RopeConfig c, RopePairing pairing)
    {
        var (inv, f) = Rope.InverseFrequencies(c);
        var (cos, sin) = Rope.CosSin(inv, torch.tensor(new[] { position }), pairing, f, x.dtype);
        return Rope.Apply(x, cos, sin, pairing);
    }

    [Theory]
    [InlineData(RopePairing.Interleaved)]
    [InlineData(RopePairing.HalfSplit)]
    public void Rope_scores_depend_only_on_relative_position_and_keep_norms(RopePairing pairing)
    {
        var c = new RopeConfig { HeadDim = 64 };
        var g = new torch.Generator(1);
        foreach (var (m, n) in new (long, long)[] { (0, 5), (17, 3), (1000, 99_999), (100_000, 42), (54_321, 54_321) })
        {
            var q = torch.randn([1, 64], generator: g);
            var k = torch.randn([1, 64], generator: g);
            double lhs = (Rotate(q, m, c, pairing) * Rotate(k, n, c, pairing)).sum().item<float>();
            double rhs = (q * Rotate(k, n - m, c, pairing)).sum().item<float>();
            Assert.True(Math.Abs(lhs - rhs) < 2e-4 * Math.Max(1, Math.Abs(rhs)), $"m={m}, n={n}: {lhs} vs {rhs}");
            Assert.Equal(q.norm().item<float>(), Rotate(q, m, c, pairing).norm().item<float>(), 3);
        }
    }

    [Fact]
    public void Interleaved_and_half_split_agree_after_permuting_the_projections()
    {
        int heads = 2, hd = 8, dm = 16;
        var g = new torch.Generator(2);
        var wq = torch.randn([heads * hd, dm], generator: g);
        var wk = torch.randn([heads * hd, dm], generator: g);
        var x = torch.randn([1, 6, dm], generator: g);
        var c = new RopeConfig { HeadDim = hd };
        torch.Tensor Scores(torch.Tensor wqq, torch.Tensor wkk, RopePairing p)
        {
            var q = x.matmul(wqq.t()).view(1, 6, heads, hd).transpose(1, 2);
            var k = x.matmul(wkk.t()).view(1, 6, heads, hd).transpose(1, 2);
            var (qr, kr) = new RotaryPosition(c, p).Rotate(q, k, 3);
            return qr.matmul(kr.transpose(2, 3));
        }
        var a = Scores(wq, wk, RopePairing.Interleaved);
        var b = Scores(Rope.InterleavedToHalfSplit(wq, heads), Rope.InterleavedToHalfSplit(wk, heads), RopePairing.HalfSplit);
        Assert.True(MaxAbs(a, b) < 1e-4, $"{MaxAbs(a, b)}");
        Assert.True(MaxAbs(Rope.HalfSplitToInterleaved(Rope.InterleavedToHalfSplit(wq, heads), heads), wq) == 0);
    }

    [Fact]
    public void Partial_rotary_leaves_the_tail_alone()
    {
        var c = new RopeConfig { HeadDim = 8, PartialRotaryFactor = 0.5 };
        var x = torch.randn([1, 1, 3, 8]);
        var (inv, f) = Rope.InverseFrequencies(c);
        Assert.Equal(2, inv.Length);
        var (cos, sin) = Rope.CosSin(inv, torch.arange(5, 8), RopePairing.HalfSplit, f);
        var y = Rope.Apply(x, cos, sin, RopePairing.HalfSplit);
        Assert.True(MaxAbs(y[.., .., .., 4..], x[.., .., .., 4..]) == 0);
        Assert.True(MaxAbs(y[.., .., .., ..4], x[.., .., .., ..4]) > 1e-3);
    }

    [Fact]
    public void Sinusoidal_values_and_layouts()
    {
        var inter = Sinusoidal.Table(3, 4, SinusoidLayout.Interleaved, dtype: torch.ScalarType.Float64);
        var concat = Sinusoidal.Table(3, 4, SinusoidLayout.Concatenated, dtype: torch.ScalarType.Float64);
        // d = 4: ω₀ = 1, ω₁ = 10000^(−1/2) = 0.01.
        Assert.Equal(new[] { Math.Sin(1), Math.Cos(1), Math.Sin(0.01), Math.Cos(0.01) }, inter[1].data<double>().ToArray(), new Tol());
        Assert.Equal(new[] { Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02) }, concat[2].data<double>().ToArray(), new Tol());
        Assert.Equal(new[] { 0.0, 1, 0, 1 }, inter[0].data<double>().ToArray(), new Tol());
    }

    [Fact]
    public void Alibi_slopes_match_the_paper()
    {
        Assert.Equal(Enumerable.Range(1, 8).Select(h => Math.Pow(2, -h)).ToArray(), Alibi.Slopes(8), new Tol());
        Assert.Equal(Enumerable.Range(1, 8).Select(h => Math.Pow(2, -h)).Concat([Math.Pow(2, -0.5), Math.Pow(2, -1.5), Math.Pow(2, -2.5), Math.Pow(2, -3.5)]).ToArray(), Alibi.Slopes(12), new Tol());
        var bias = Alibi.Bias(8, 3, 3, dtype: torch.ScalarType.Float64);
        Assert.Equal(-0.5 * 2, bias[0, 0, 2, 0].item<double>(), 12);
        Assert.Equal(-Math.Pow(2, -8), bias[0, 7, 0, 1].item<double>(), 12);
    }

    [Theory]
    [InlineData(0, true, 0)]
    [InlineData(-1, true, 1)]
    [InlineData(1, true, 17)]
    [InlineData(-7, true, 7)]
    [InlineData(-8, true, 8)]
    [InlineData(-16, true, 10)]
    [InlineData(-127, true, 15)]
    [InlineData(-1000, true, 15)]
    [InlineData(16, true, 26)]
    [InlineData(-1, false, 1)]
    [InlineData(5, false, 0)]
    [InlineData(-16, false, 16)]
    [InlineData(-32, false, 21)]
    [InlineData(-128, false, 31)]
    public void T5_buckets_worked_out_by_hand(long relative, bool bidirectional, int bucket) =>
        Assert.Equal(bucket, T5RelativeBias.Bucket(relative, bidirectional, 32, 128));

    [Fact]
    public void Deberta_log_buckets_worked_out_by_hand()
    {
        var b = DebertaPosition.LogBucket(torch.tensor(new long[] { 5, -5, 128, 200, -200, 1000 }), 256, 512);
        // 200: ceil(ln(200/128)/ln(511/128)·127) + 128 = ceil(40.94) + 128 = 169
        // 1000: ceil(ln(1000/128)/ln(511/128)·127) + 128 = ceil(188.59) + 128 = 317 (clipping to the span happens later)
        Assert.Equal(new long[] { 5, -5, 128, 169, -169, 317 }, b.data<long>().ToArray());
    }

    [Fact]
    public void Yarn_frequencies_and_attention_factor_for_the_yarn_llama2_64k_config()
    {
        // YaRN's Llama 2 64k: head_dim 128, θ = 10000, s = 16, L = 4096, β_fast 32, β_slow 1.
        // Correction range worked out by hand: low = ⌊128·ln(4096/(64π))/(2 ln 10⁴)⌋ = ⌊20.94⌋ = 20,
        // high = ⌈128·ln(4096/(2π))/(2 ln 10⁴)⌉ = ⌈45.03⌉ = 46.
        var c = new RopeConfig { HeadDim = 128, RopeType = RopeType.Yarn, Factor = 16, OriginalMaxPositionEmbeddings = 4096 };
        var (inv, att) = Rope.InverseFrequencies(c);
        double F(int i) => Math.Pow(10000, -2.0 * i / 128);
        Assert.Equal(1 + 0.1 * Math.Log(16), att, 12);
        Assert.Equal(F(0), inv[0], 14);
        Assert.Equal(F(20), inv[20], 14);                     // ramp 0: extrapolated as is
        Assert.Equal(F(46) / 16, inv[46], 14);                // ramp 1: fully interpolated
        Assert.Equal(F(63) / 16, inv[63], 14);
        Assert.Equal(F(33) * (0.5 + 0.5 / 16), inv[33], 14);  // ramp (33 − 20)/26 = 0.5
    }

    [Fact]
    public void Llama3_frequencies_for_the_llama_3_1_config()
    {
        // Llama 3.1: θ = 500000, s = 8, low 1, high 4, L = 8192. Wavelength 2π·θ^(2i/128) is below 2048 for
        // i ≤ 28 (kept) and above 8192 for i ≥ 35 (divided by 8), worked out by hand.
        var c = new RopeConfig { HeadDim = 128, Base = 500000, RopeType = RopeType.Llama3, Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 8192 };
        var (inv, att) = Rope.InverseFrequencies(c);
        double F(int i) => Math.Pow(500000, -2.0 * i / 128);
        Assert.Equal(1, att);
        Assert.Equal(F(28), inv[28], 15);
        Assert.Equal(F(35) / 8, inv[35], 15);
        double wavelen = 2 * Math.PI / F(31), smooth = (8192 / wavelen - 1) / 3;
        Assert.InRange(smooth, 0, 1);
        Assert.Equal((1 - smooth) * F(31) / 8 + smooth * F(31), inv[31], 15);
    }

    [Fact]
    public void Linear_ntk_and_dynamic_scaling()
    {
        var lin = Rope.InverseFrequencies(new RopeConfig { HeadDim = 8, RopeType = RopeType.Linear, Factor = 4 }).InvFreq;
        Assert.Equal(new[] { 1 / 4.0, 0.1 / 4, 0.01 / 4, 0.001 / 4 }, lin, new Tol());
        var ntk = Rope.InverseFrequencies(new RopeConfig { HeadDim = 8, RopeType = RopeType.Ntk, Factor = 4 }).InvFreq;
        double b = 10000 * Math.Pow(4, 8 / 6.0);
        Assert.Equal(Math.Pow(b, -6 / 8.0), ntk[3], 14);
        Assert.Equal(1, ntk[0]);
        var dyn = new RopeConfig { HeadDim = 8, RopeType = RopeType.Dynamic, Factor = 2, OriginalMaxPositionEmbeddings = 100 };
        Assert.Equal(Rope.InverseFrequencies(new RopeConfig { HeadDim = 8 }).InvFreq, Rope.InverseFrequencies(dyn, 100).InvFreq);
        double b2 = 10000 * Math.Pow(2 * 300 / 100.0 - 1, 8 / 6.0);
        Assert.Equal(Math.Pow(b2, -2 / 8.0), Rope.InverseFrequencies(dyn, 300).InvFreq[1], 14);
    }

    [Fact]
    public void Bad_settings_name_the_parameter()
    {
        Assert.Contains("must be even", Assert.Throws<TesseraUserException>(() => new RopeConfig { HeadDim = 7 }.Validate()).Message);
        Assert.Contains("rope_type: 'magic' is not a known name; expected default, linear, ntk, dynamic, yarn, llama3", Assert.Throws<TesseraUserException>(() => EnumNames.Parse<RopeType>("rope_type", "magic")).Message);
        Assert.Contains("rope_type 9", Assert.Throws<TesseraUserException>(() => new RopeConfig { HeadDim = 8, RopeType = (RopeType)9 }.Validate()).Message);
        Assert.Contains("factor", Assert.Throws<TesseraUserException>(() => new RopeConfig { HeadDim = 8, RopeType = RopeType.Linear, Factor = 0.5 }.Validate()).Message);
        Assert.Equal("Factor", Assert.Throws<TesseraUserException>(() => new RopeConfig { HeadDim = 8, RopeType = RopeType.Linear, Factor = 0.5 }.Validate()).Parameter);
        Assert.Equal("heads", Assert.Throws<TesseraUserException>(() => Alibi.Slopes(0)).Parameter);
        using var table = new LearnedPositionalEmbedding(4, 8);
        Assert.Contains("maxLength", Assert.Throws<TesseraUserException>(() => table.forward(torch.zeros(1, 5, 8))).Message);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Linear_attention_equals_its_formula_written_out(bool causal, bool rope)
    {
        const int B = 2, H = 3, T = 11, D = 8, Dv = 5;
        var g = new torch.Generator(3);
        var q = torch.randn([B, H, T, D], torch.ScalarType.Float64, generator: g);
        var k = torch.randn([B, H, T, D], torch.ScalarType.Float64, generator: g);
        var v = torch.randn([B, H, T, Dv], torch.ScalarType.Float64, generator: g);
        // RoPE tables of RoFormer (Su et al. 2021, eq. 34), pairs (i, i + d/2): θ_i = 10000^(−2i/d), angle t·θ_i.
        var cosTable = new double[T * D];
        var sinTable = new double[T * D];
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D / 2; i++)
            {
                double angle = t * Math.Pow(10000, -2.0 * i / D);
                cosTable[t * D + i] = cosTable[t * D + i + D / 2] = Math.Cos(angle);
                sinTable[t * D + i] = sinTable[t * D + i + D / 2] = Math.Sin(angle);
            }
        torch.Tensor? cos = rope ? torch.tensor(cosTable, [T, D]) : null, sin = rope ? torch.tensor(sinTable, [T, D]) : null;
        var fast = LinearAttention.Forward(q, k, v, causal, cos, sin);

        // Katharopoulos et al. 2020 eq. 5 with φ(x) = elu(x) + 1 (eq. 7); with RoPE (RoFormer §3.3, eq. 19) the rotation
        // R_t acts on φ(q), φ(k) in the numerator only: out_m = Σ_n (R_mφ(q_m))·(R_nφ(k_n)) v_n / (Σ_n φ(q_m)·φ(k_n) + 1e-6).
        double[] Q = q.data<double>().ToArray(), K = k.data<double>().ToArray(), V = v.data<double>().ToArray();
        static double Phi(double x) => x > 0 ? x + 1 : Math.Exp(x);
        double[] Features(double[] x, int b, int h, int t, bool rotate)
        {
            var f = new double[D];
            for (int i = 0; i < D; i++) f[i] = Phi(x[((b * H + h) * T + t) * D + i]);
            if (!rotate) return f;
            var r = new double[D];
            for (int i = 0; i < D / 2; i++)
            {
                double angle = t * Math.Pow(10000, -2.0 * i / D), c = Math.Cos(angle), s = Math.Sin(angle);
                r[i] = f[i] * c - f[i + D / 2] * s;
                r[i + D / 2] = f[i + D / 2] * c + f[i] * s;
            }
            return r;
        }
        static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();
        var want = new double[B * H * T * Dv];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int m = 0; m < T; m++)
                {
                    double den = 0;
                    var num = new double[Dv];
                    for (int n = 0; n < (causal ? m + 1 : T); n++)
                    {
                        den += Dot(Features(Q, b, h, m, false), Features(K, b, h, n, false));
                        double a = Dot(Features(Q, b, h, m, rope), Features(K, b, h, n, rope));
                        for (int j = 0; j < Dv; j++) num[j] += a * V[((b * H + h) * T + n) * Dv + j];
                    }
                    for (int j = 0; j < Dv; j++) want[((b * H + h) * T + m) * Dv + j] = num[j] / (den + 1e-6);
                }
        using var expected = torch.tensor(want, [B, H, T, Dv]);
        Assert.True(MaxAbs(fast, expected) < 1e-10, $"{MaxAbs(fast, expected)}");
        if (rope)
        {
            // Tessera's own table is this one.
            var (c, s) = Rope.CosSin(Rope.InverseFrequencies(new RopeConfig { HeadDim = D }).InvFreq, torch.arange(T), RopePairing.HalfSplit, 1, torch.ScalarType.Float64);
            Assert.True(MaxAbs(c, cos!) < 1e-12 && MaxAbs(s, sin!) < 1e-12);
        }
        // The quadratic form Tessera keeps for checking agrees too.
        Assert.True(MaxAbs(LinearAttention.Quadratic(q, k, v, causal, cos, sin), expected) < 1e-10);
    }

    public static IEnumerable<object[]> Positions() =>
    [
        ["none"], ["rope"], ["alibi"], ["t5"], ["shaw"], ["xl"], ["deberta"],
    ];

    private static AttentionPosition? Make(string kind, int dm, int heads, bool causal) => kind switch
    {
        "rope" => new RotaryPosition(new RopeConfig { HeadDim = dm / heads }),
        "alibi" => new AlibiPosition(!causal),
        "t5" => new T5Position(heads, !causal, 16, 32),
        "shaw" => new ShawPosition(dm / heads, 3),
        "xl" => new TransformerXLPosition(dm, heads),
        "deberta" => new DebertaPosition(dm, heads, 8, 16),
        _ => null,
    };

    [Theory]
    [MemberData(nameof(Positions))]
    public void Causal_attention_never_looks_ahead(string kind)
    {
        torch.manual_seed(4);
        var mha = new MultiHeadAttention(16, 2, causal: true, Make(kind, 16, 2, true));
        var x = torch.randn(2, 9, 16);
        var changed = x.clone();
        changed[.., 6..] = torch.randn(2, 3, 16);
        using var a = mha.forward(x);
        using var b = mha.forward(changed);
        Assert.True(MaxAbs(a[.., ..6], b[.., ..6]) < 1e-5, kind);
        Assert.True(MaxAbs(a[.., 6..], b[.., 6..]) > 1e-4, kind);
    }

    [Fact]
    public void Relative_encodings_depend_only_on_the_distance()
    {
        // Queries at 100 … 103 against keys 100 … 103 see what queries 0 … 3 see against keys 0 … 3.
        var alibiNear = Alibi.Bias(4, 4, 4, 0, symmetric: true);
        var alibiFar = Alibi.Bias(4, 4, 104, 100, symmetric: true)[.., .., .., 100..];
        Assert.True(MaxAbs(alibiNear, alibiFar) == 0);
        torch.manual_seed(5);
        var t5 = new T5RelativeBias(2, bidirectional: true, 16, 32);
        Assert.True(MaxAbs(t5.forward(4, 4, 0), t5.forward(4, 104, 100)[.., .., .., 100..]) == 0);
        var q = torch.randn(1, 1, 4, 8);
        var k = torch.randn(1, 1, 4, 8);
        var (inv, f) = Rope.InverseFrequencies(new RopeConfig { HeadDim = 8 });
        torch.Tensor S(long shift)
        {
            var (cs, sn) = Rope.CosSin(inv, torch.arange(shift, shift + 4), RopePairing.HalfSplit, f);
            return Rope.Apply(q, cs, sn, RopePairing.HalfSplit).matmul(Rope.Apply(k, cs, sn, RopePairing.HalfSplit).transpose(2, 3));
        }
        Assert.True(MaxAbs(S(0), S(100)) < 1e-3);
        // An absolute encoding is not: the sinusoidal table changes with the shift.
        Assert.True(MaxAbs(Sinusoidal.Table(4, 8), Sinusoidal.Table(4, 8, offset: 100)) > 0.1);
    }

    [Fact]
    public void Padding_mask_hides_padded_keys()
    {
        torch.manual_seed(6);
        var mha = new MultiHeadAttention(16, 2, causal: false, new T5Position(2, true, 16, 32));
        var x = torch.randn(1, 5, 16);
        var changed = x.clone();
        changed[0, 4] = torch.randn(16);
        var pad = torch.tensor(new[] { false, false, false, false, true }).view(1, 5);
        Assert.True(MaxAbs(mha.forward(x, pad)[.., ..4], mha.forward(changed, pad)[.., ..4]) < 1e-6);
    }

    [Fact]
    public void Shaw_terms_match_a_direct_loop()
    {
        torch.manual_seed(7);
        var shaw = new ShawPosition(4, 2);
        var q = torch.randn(1, 1, 5, 4);
        var k = torch.randn(1, 1, 5, 4);
        var w = torch.softmax(torch.randn(1, 1, 5, 5), -1);
        var logits = shaw.LogitTerm(q, k, 0)!;
        var values = shaw.ValueTerm(w, 0)!;
        var p = shaw.parameters().ToArray();
        var aK = p[0];
        var aV = p[1];
        for (int i = 0; i < 5; i++)
        {
            var expectedV = torch.zeros(4);
            for (int j = 0; j < 5; j++)
            {
                int r = Math.Clamp(j - i, -2, 2) + 2;
                Assert.Equal((q[0, 0, i] * aK[r]).sum().item<float>(), logits[0, 0, i, j].item<float>(), 4);
                expectedV = expectedV + w[0, 0, i, j] * aV[r];
            }
            Assert.True(MaxAbs(expectedV, values[0, 0, i]) < 1e-5);
        }
    }

    [Theory]
    [InlineData("axial")]
    [InlineData("mixed")]
    public void Rope_2d_scores_depend_only_on_the_2d_offset(string kind)
    {
        torch.manual_seed(8);
        var mixed = new MixedRope2D(1, 8);
        torch.Tensor Angles(torch.Tensor pos) => kind == "axial" ? Rope2D.AxialAngles(pos, 8) : mixed.forward(pos)[0];
        var q = torch.randn(1, 8);
        var k = torch.randn(1, 8);
        double Score(double[] pq, double[] pk)
        {
            var (cq, sq) = Rope2D.FromAngles(Angles(torch.tensor(pq).view(1, 2)));
            var (ck, sk) = Rope2D.FromAngles(Angles(torch.tensor(pk).view(1, 2)));
            return (Rope.Apply(q, cq, sq, RopePairing.Interleaved) * Rope.Apply(k, ck, sk, RopePairing.Interleaved)).sum().item<float>();
        }
        Assert.Equal(Score([1, 2], [4, 0]), Score([11, 7], [14, 5]), 3);
        Assert.NotEqual(Score([1, 2], [4, 0]), Score([1, 2], [0, 4]), 3);
        Assert.Equal(new long[] { 12, 2 }, Rope2D.GridPositions(3, 4).shape);
    }
}

public class LengthBenchTests
{
    [Fact]
    public void A_short_run_learns_to_copy_far_above_chance()
    {
        var row = LengthGeneralization.Run(BenchEncoding.Alibi, new LengthBenchOptions(TrainLength: 4, Steps: 250, Batch: 32, ModelDim: 32, Heads: 2, Layers: 2, LearningRate: 3e-3, EvalSequences: 64));
        Assert.Equal(3, row.TokenAccuracy.Length);
        Assert.True(row.TokenAccuracy[0] > 0.5, $"accuracy at 1x: {row.TokenAccuracy[0]}"); // chance is 0.1
        Assert.All(row.TokenAccuracy.Concat(row.SequenceAccuracy), a => Assert.InRange(a, 0, 1));
    }

    [Fact]
    public void Copy_batches_are_the_string_a_separator_and_the_copy()
    {
        var (input, target) = LengthGeneralization.Batch(3, 5, new TorchSharp.torch.Generator(1));
        Assert.Equal(new long[] { 3, 10 }, input.shape);
        Assert.True(input[.., 5].eq(10).all().item<bool>());
        Assert.True(input[.., ..5].eq(target).all().item<bool>());
        Assert.True(input[.., 6..].eq(target[.., ..4]).all().item<bool>());
    }
}
