namespace Tessera.Tests;

public class GroupNormTests
{
    [Fact]
    public void Group_norm_matches_its_formula_even_on_recycled_memory()
    {
        var gn = new Tessera.Layers.GroupNorm(2, 4);
        using (torch.no_grad())
        {
            gn.parameters().First().copy_(torch.tensor(new float[] { 1, 2, 3, 4 }));
            gn.parameters().Last().copy_(torch.tensor(new float[] { 0, 1, 0, -1 }));
        }
        for (int trial = 0; trial < 20; trial++)
        {
            // libtorch's own group_norm returned NaN here whenever freed memory had held NaN.
            torch.full(1 << 16, float.NaN).Dispose();
            var x = torch.randn([3, 4, 5, 2], torch.ScalarType.Float64, generator: new torch.Generator((ulong)trial));
            var y = gn.to(torch.ScalarType.Float64).forward(x);
            var xs = x.data<double>().ToArray();
            double[] w = [1, 2, 3, 4], bias = [0, 1, 0, -1];
            for (int n = 0; n < 3; n++)
                for (int g = 0; g < 2; g++)
                {
                    // Channels 2g, 2g+1 over 5×2 pixels: 20 values.
                    var idx = Enumerable.Range(0, 2).SelectMany(cc => Enumerable.Range(0, 10).Select(p => ((n * 4 + 2 * g + cc) * 10) + p)).ToArray();
                    double mean = idx.Average(i => xs[i]), v = idx.Average(i => (xs[i] - mean) * (xs[i] - mean));
                    foreach (int i in idx)
                    {
                        int ch = i / 10 % 4;
                        double expected = (xs[i] - mean) / Math.Sqrt(v + 1e-5) * w[ch] + bias[ch];
                        Assert.Equal(expected, y.data<double>()[i], 10);
                    }
                }
        }
        Assert.Equal(new[] { "weight", "bias" }, gn.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void Group_norm_starts_as_the_identity_affine_even_on_recycled_memory()
    {
        // TorchSharp 0.107's torch.nn.GroupNorm takes γ and β from uninitialised memory; Tessera's starts at 1 and 0.
        for (int trial = 0; trial < 20; trial++)
        {
            torch.full(1 << 16, float.NaN).Dispose();
            using var gn = new Tessera.Layers.GroupNorm(8, 32);
            Assert.True(gn.parameters().First().eq(1).all().item<bool>());
            Assert.True(gn.parameters().Last().eq(0).all().item<bool>());
        }
    }

    [Fact]
    public void Group_norm_gradients_match_the_formula_differentiated_by_autograd()
    {
        var gn = new Tessera.Layers.GroupNorm(3, 6, eps: 1e-3).to(torch.ScalarType.Float64);
        using (torch.no_grad())
        {
            gn.parameters().First().copy_(torch.tensor(new double[] { 0.5, -1, 2, 1.5, 0.25, 3 }));
            gn.parameters().Last().copy_(torch.tensor(new double[] { 0.1, 0, -0.2, 1, 0, 0.3 }));
        }
        var x = torch.randn([2, 6, 4, 3], torch.ScalarType.Float64, generator: new torch.Generator(4)).requires_grad_(true);
        var upstream = torch.randn([2, 6, 4, 3], torch.ScalarType.Float64, generator: new torch.Generator(5));
        var y1 = gn.forward(x);
        (y1 * upstream).sum().backward();
        var gotX = x.grad!.clone();
        var gotW = gn.parameters().First().grad!.clone();
        var gotB = gn.parameters().Last().grad!.clone();
        // The same function written out with elementary operations, differentiated by autograd.
        var x2 = x.detach().clone().requires_grad_(true);
        var w2 = torch.tensor(new double[] { 0.5, -1, 2, 1.5, 0.25, 3 }).requires_grad_(true);
        var b2 = torch.tensor(new double[] { 0.1, 0, -0.2, 1, 0, 0.3 }).requires_grad_(true);
        var g = x2.reshape(2, 3, -1);
        var c = g - g.mean([2], keepdim: true);
        var y = (c / (c.square().mean([2], keepdim: true) + 1e-3).sqrt()).reshape(x2.shape) * w2.view(1, 6, 1, 1) + b2.view(1, 6, 1, 1);
        (y * upstream).sum().backward();
        Assert.True(torch.allclose(y1, y, 1e-12, 1e-12));
        Assert.True(torch.allclose(gotX, x2.grad!, 1e-9, 1e-10));
        Assert.True(torch.allclose(gotW, w2.grad!, 1e-9, 1e-10));
        Assert.True(torch.allclose(gotB, b2.grad!, 1e-9, 1e-10));
        // Without gradients the plain path gives the same values.
        using (torch.no_grad()) Assert.True(torch.allclose(gn.forward(x), y, 1e-12, 1e-12));
    }
}
