namespace Tessera.Diffusion.Analytic;

/// <summary>
/// A Gaussian mixture with isotropic modes, p(x₀) = Σₖ wₖ N(μₖ, sₖ² I), and everything about its noised
/// marginals p(x; σ) = Σₖ wₖ N(μₖ, (sₖ² + σ²) I) in closed form: the ideal denoiser, the score, the log
/// density, the divergence of the denoiser, and exact samples. The test bed for every sampler.
/// </summary>
public sealed class GaussianMixture
{
    /// <summary>Dimension d.</summary>
    public int Dim { get; }

    /// <summary>Mode weights (non-negative, summing to 1).</summary>
    public double[] Weights { get; }

    /// <summary>Mode standard deviations sₖ.</summary>
    public double[] Stds { get; }

    /// <summary>Mode means [K, d].</summary>
    public double[][] Means { get; }

    private readonly torch.Tensor _mu;     // [K, d] float64
    private readonly torch.Tensor _logW;   // [K]
    private readonly torch.Tensor _s2;     // [K]
    private readonly torch.Tensor _mu2;    // [K] |μₖ|²

    /// <summary>Builds a mixture, validating it.</summary>
    /// <exception cref="TesseraUserException">Negative or non-normalised weights, non-positive stds, mismatched dimensions.</exception>
    public GaussianMixture(int dim, double[] weights, double[] stds, double[][] means)
    {
        if (dim < 1) throw new TesseraUserException(nameof(dim), $"{dim}; expected at least 1");
        int k = weights.Length;
        if (k == 0) throw new TesseraUserException(nameof(weights), "at least one mode");
        if (stds.Length != k) throw new TesseraUserException(nameof(stds), $"{stds.Length} entries for {k} weights");
        if (means.Length != k) throw new TesseraUserException(nameof(means), $"{means.Length} entries for {k} weights");
        for (int i = 0; i < k; i++)
        {
            if (!(weights[i] >= 0) || !double.IsFinite(weights[i])) throw new TesseraUserException(nameof(weights), $"weights[{i}] = {weights[i]} is negative or not finite");
            if (!(stds[i] > 0) || !double.IsFinite(stds[i])) throw new TesseraUserException(nameof(stds), $"stds[{i}] = {stds[i]} must be positive");
            if (means[i].Length != dim) throw new TesseraUserException(nameof(means), $"means[{i}] has {means[i].Length} entries, dim is {dim}");
        }
        double sum = weights.Sum();
        if (Math.Abs(sum - 1) > 1e-9) throw new TesseraUserException(nameof(weights), $"they sum to {sum}, not 1");
        Dim = dim; Weights = weights; Stds = stds; Means = means;
        _mu = torch.tensor(means.SelectMany(m => m).ToArray(), [k, dim], torch.ScalarType.Float64);
        _logW = torch.tensor(weights.Select(w => Math.Log(w)).ToArray(), torch.ScalarType.Float64);
        _s2 = torch.tensor(stds.Select(s => s * s).ToArray(), torch.ScalarType.Float64);
        _mu2 = torch.tensor(means.Select(m => m.Sum(e => e * e)).ToArray(), torch.ScalarType.Float64);
    }

    /// <summary>Equal modes on a circle: the 2-D test problem of Tessera's fixtures (8 modes, radius 4, std 0.5).</summary>
    public static GaussianMixture Ring(int modes = 8, double radius = 4, double std = 0.5) =>
        new(2, Enumerable.Repeat(1.0 / modes, modes).ToArray(), Enumerable.Repeat(std, modes).ToArray(),
            Enumerable.Range(0, modes).Select(k => new[] { radius * Math.Cos(2 * Math.PI * k / modes), radius * Math.Sin(2 * Math.PI * k / modes) }).ToArray());

    /// <summary>Reads the mixture JSON (<c>dim</c>, <c>weights</c>, <c>stds</c>, <c>means</c>).</summary>
    /// <exception cref="TesseraFormatException">The file is missing, malformed or describes an invalid mixture.</exception>
    public static GaussianMixture Load(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            int dim = Field(r, "dim", path).GetInt32();
            double[] weights = Field(r, "weights", path).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double[] stds = Field(r, "stds", path).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double[][] means = Field(r, "means", path).EnumerateArray().Select(m => m.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
            return new GaussianMixture(dim, weights, stds, means);
        }
        catch (JsonException e) { throw new TesseraFormatException(path, $"not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw new TesseraFormatException(path, $"malformed mixture ({e.Message})", e); }
        catch (FormatException e) { throw new TesseraFormatException(path, $"malformed mixture ({e.Message})", e); }
        catch (ArgumentException e) { throw new TesseraFormatException(path, e.Message, e); }
        catch (TesseraUserException e) when (e is not TesseraFormatException) { throw new TesseraFormatException(path, e.Message, e); }
    }

    private static JsonElement Field(JsonElement r, string name, string path) =>
        r.TryGetProperty(name, out var v) ? v : throw new TesseraFormatException(path, $"missing field '{name}'");

    /// <summary>
    /// Responsibilities r [N, K] = softmaxₖ(log wₖ − (d/2)·log 2π(sₖ² + σ²) − |x − μₖ|²/(2(sₖ² + σ²))) and the
    /// variances vₖ = sₖ² + σ² [K]. The squared distances come from one matrix product,
    /// |x − μₖ|² = |x|² − 2x·μₖ + |μₖ|², so no [N, K, d] tensor is formed.
    /// </summary>
    private (torch.Tensor R, torch.Tensor Var) Responsibilities(torch.Tensor x, double sigma)
    {
        // Every number is an explicit Scalar (ScalarArithmetic): the same operations as the operators, no finalizer garbage.
        var mu = _mu.to(x.device);
        var v = _s2.to(x.device).Plus(sigma * sigma);                             // [K]
        var x2 = x.Squared().sum(1, keepdim: true);                               // [N, 1]
        var d2 = (x2 - x.matmul(mu.t()).Times(2)).Plus(_mu2.to(x.device)).ClampMinZero_();   // [N, K]
        var logits = (_logW.to(x.device) - v.Times(2 * Math.PI).log().Times(0.5 * Dim)) - d2 / v.Times(2);
        return (torch.softmax(logits, 1), v);
    }

    /// <summary>
    /// The ideal denoiser D(x; σ) = E[x₀ | x] = Σₖ rₖ·(μₖ + aₖ·(x − μₖ)), aₖ = sₖ²/(sₖ² + σ²), computed as
    /// (Σₖ rₖaₖ)·x + (r ⊙ (1 − a))·μ: two small matrix products.
    /// </summary>
    public torch.Tensor Denoise(torch.Tensor x, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var (r, v) = Responsibilities(x, sigma);
        var a = _s2.to(x.device) / v;                                            // [K]
        var ra = r * a;                                                          // [N, K]
        return (ra.sum(1, keepdim: true) * x).Plus((r - ra).matmul(_mu.to(x.device))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The probability-flow slope dx/dσ = (x − D(x; σ))/σ (EDM eq. 3 with s = 1) without cancellation:
    /// x − D = σ²·Σₖ (rₖ/vₖ)(x − μₖ), so dx/dσ = σ·((Σₖ rₖ/vₖ)·x − (r/v)·μ), exact and finite down to σ = 0.
    /// </summary>
    public torch.Tensor FlowVelocity(torch.Tensor x, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var (r, v) = Responsibilities(x, sigma);
        var rv = r / v;                                                          // [N, K]
        return (rv.sum(1, keepdim: true) * x - rv.matmul(_mu.to(x.device))).Times(sigma).MoveToOuterDisposeScope();
    }

    /// <summary>The denoiser as a <see cref="Denoiser"/>.</summary>
    public Denoiser AsDenoiser() => Denoise;

    /// <summary>The score ∇ log p(x; σ) = (D(x; σ) − x)/σ².</summary>
    public torch.Tensor Score(torch.Tensor x, double sigma)
    {
        using var d = Denoise(x, sigma);
        using var diff = d - x;
        return diff.Over(sigma * sigma);
    }

    /// <summary>log p(x; σ) per row [N], exactly.</summary>
    public torch.Tensor LogDensity(torch.Tensor x, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var mu = _mu.to(x.device);
        var v = _s2.to(x.device) + sigma * sigma;
        var d2 = (x.unsqueeze(1) - mu.unsqueeze(0)).square().sum(-1);
        var logits = _logW.to(x.device) - 0.5 * Dim * (2 * Math.PI * v).log() - d2 / (2 * v);
        return torch.logsumexp(logits, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// tr ∂D/∂x per row [N], exactly: with aₖ = sₖ²/(sₖ² + σ²), mₖ = μₖ + aₖ(x − μₖ), gₖ = −(x − μₖ)/(sₖ² + σ²)
    /// and ḡ = Σ rₖ gₖ: tr = d·Σ rₖ aₖ + Σ rₖ mₖ·(gₖ − ḡ).
    /// </summary>
    public torch.Tensor DenoiserDivergence(torch.Tensor x, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var (r, v) = Responsibilities(x, sigma);
        var mu = _mu.to(x.device);
        var a = _s2.to(x.device) / v;
        var diff = x.unsqueeze(1) - mu.unsqueeze(0);                              // [N, K, d]
        var m = mu.unsqueeze(0) + a.view(1, -1, 1) * diff;
        var g = -diff / v.view(1, -1, 1);
        var gBar = (r.unsqueeze(-1) * g).sum(1, keepdim: true);
        var tr = Dim * (r * a).sum(1) + (r * (m * (g - gBar)).sum(-1)).sum(1);
        return tr.MoveToOuterDisposeScope();
    }

    /// <summary>Exact samples of p(x; σ) [n, d] (σ = 0 for the data), from <paramref name="generator"/>.</summary>
    public torch.Tensor Sample(int n, torch.Generator generator, double sigma = 0)
    {
        using var scope = torch.NewDisposeScope();
        var probs = torch.tensor(Weights, torch.ScalarType.Float64);
        var k = torch.multinomial(probs, n, replacement: true, generator: generator);
        var std = (_s2 + sigma * sigma).sqrt().index_select(0, k).unsqueeze(1);
        var z = torch.randn([n, Dim], torch.ScalarType.Float64, generator: generator);
        return (_mu.index_select(0, k) + std * z).MoveToOuterDisposeScope();
    }
}
