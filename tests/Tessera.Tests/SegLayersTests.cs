using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;

namespace Tessera.Tests;

public class SegLayersTests
{
    [Fact]
    public void Receptive_fields_follow_the_recursion()
    {
        // Three 3×3 convolutions: 7; a 3×3 with rate 2 sees 5; after a stride-2 layer every tap counts double.
        Assert.Equal(new[] { 3, 5, 7 }, ReceptiveField.Compute([new(3), new(3), new(3)]).PerLayer);
        Assert.Equal(5, new ConvSpec(3, Dilation: 2).EffectiveKernel);
        // 1 + 6·1 = 7; 7 + 2·2 = 11; rate 2 → k_eff 5: 11 + 4·4 = 27
        Assert.Equal(new[] { 7, 11, 27 }, ReceptiveField.Compute([new(7, 2), new(3, 2), new(3, 1, 2)]).PerLayer);
        Assert.Equal(4, ReceptiveField.Compute([new(7, 2), new(3, 2), new(3, 1, 2)]).Jump);
    }

    [Theory]
    [InlineData(new[] { 1, 2, 5 }, true)]
    [InlineData(new[] { 1, 2, 3 }, true)]
    [InlineData(new[] { 2, 4, 8 }, false)]
    [InlineData(new[] { 2, 2, 2 }, false)]
    [InlineData(new[] { 1, 2, 9 }, false)]
    [InlineData(new[] { 6, 12, 18 }, false)]
    public void Hdc_rule_agrees_with_the_actual_coverage(int[] rates, bool ok)
    {
        var hdc = ReceptiveField.Hdc(rates);
        Assert.Equal(ok, hdc.Ok);
        // Independent check: a gridding-free stack reaches every offset between its extremes.
        var reach = ReceptiveField.Coverage(rates);
        bool contiguous = reach.Count == reach.Max - reach.Min + 1;
        Assert.Equal(ok, contiguous);
    }

    [Fact]
    public void Gcn_is_affine_with_separable_kernels_and_rejects_even_k()
    {
        torch.manual_seed(1);
        var gcn = new GcnModule(3, 4, 7);
        // 2·(7·3·4 + 7·4·4) weights + 4 biases per conv
        Assert.Equal(2 * (7 * 3 * 4 + 7 * 4 * 4) + 4 * 4, gcn.parameters().Sum(p => p.numel()));
        var x = torch.randn(1, 3, 9, 11);
        var y = torch.randn(1, 3, 9, 11);
        var zero = gcn.forward(torch.zeros(1, 3, 9, 11));
        var lhs = gcn.forward(x * 2 + y * 3) - zero;
        var rhs = (gcn.forward(x) - zero) * 2 + (gcn.forward(y) - zero) * 3;
        Assert.True((lhs - rhs).abs().max().item<float>() < 1e-4); // no ReLU or BN inside
        Assert.Equal(new long[] { 1, 4, 9, 11 }, gcn.forward(x).shape);
        Assert.Contains("odd", Assert.Throws<TesseraUserException>(() => new GcnModule(3, 4, 8)).Message);
    }

    [Fact]
    public void Boundary_refinement_is_a_residual_block()
    {
        var br = new BoundaryRefinement(5);
        using (torch.no_grad()) foreach (var p in br.parameters()) p.zero_();
        var s = torch.randn(2, 5, 6, 6);
        Assert.True((br.forward(s) - s).abs().max().item<float>() == 0);
    }

    [Fact]
    public void Aspp_rates_double_at_output_stride_8()
    {
        Assert.Equal(new[] { 6, 12, 18 }, new Aspp(8, 8, 16).Rates);
        Assert.Equal(new[] { 12, 24, 36 }, new Aspp(8, 8, 8).Rates);
        var aspp = new Aspp(8, 16, 16);
        aspp.eval();
        Assert.Equal(new long[] { 2, 16, 5, 7 }, aspp.forward(torch.randn(2, 8, 5, 7)).shape);
    }

    [Fact]
    public void Models_give_per_pixel_scores_at_input_size()
    {
        torch.manual_seed(2);
        var x = torch.randn(2, 3, 64, 64);
        var gcn = new GcnNet(11, k: 7, depth: ResNetDepth.ResNet18, baseWidth: 16, smallStem: true);
        Assert.Equal(4, gcn.GcnCount);
        Assert.Equal(9, gcn.BrCount);
        Assert.Equal(0, new GcnNet(11, k: 7, boundaryRefinement: false, depth: ResNetDepth.ResNet18, baseWidth: 16, smallStem: true).BrCount);
        foreach (torch.nn.Module<torch.Tensor, torch.Tensor> model in new torch.nn.Module<torch.Tensor, torch.Tensor>[]
        {
            gcn,
            new DeepLabV3(11, ResNetDepth.ResNet18, 16, baseWidth: 16, smallStem: true),
            new DeepLabV3(11, ResNetDepth.ResNet18, 8, useAspp: false, baseWidth: 16, smallStem: true),
            new Fcn(11, ResNetDepth.ResNet18, 8, baseWidth: 16, smallStem: true),
        })
        {
            model.eval();
            Assert.Equal(new long[] { 2, 11, 64, 64 }, model.forward(x).shape);
        }
    }

    [Theory]
    [InlineData(new[] { 3, 3, 3, 3 })]
    [InlineData(new[] { 1, 2, 4, 5 })]
    public void Last_stage_dilations_reach_exactly_the_offsets_their_rates_predict(int[] rates)
    {
        // Independent expectation: a residual block relu(conv2(conv1(x)) + x) reaches {0} ∪ (C₁ + C₂); two blocks
        // reach the sums of their sets. Measured: the gradient of one layer4 output pixel with respect to layer3.
        var block1 = ReceptiveField.Coverage(rates[..2]).Append(0).ToHashSet();
        var block2 = ReceptiveField.Coverage(rates[2..]).Append(0).ToHashSet();
        var expected = block1.SelectMany(a => block2.Select(b => a + b)).ToHashSet();

        torch.manual_seed(3);
        var net = new ResNet(ResNetDepth.ResNet18, 16, numClasses: 0, baseWidth: 16, smallStem: true, layer4Dilations: rates);
        net.eval();
        var x = torch.randn(1, 3, 256, 256);
        var f = net.Features(x);
        Assert.Equal(new long[] { 1, 64, 32, 32 }, f.Layer3.shape);
        Assert.Equal(32, f.Layer4.shape[2]); // dilated: no stride
        var g = torch.autograd.grad([f.Layer4[.., .., 16, 16].sum()], [f.Layer3])[0].abs().sum(1)[0];
        for (int dy = -15; dy <= 15; dy++)
            for (int dx = -15; dx <= 15; dx++)
            {
                bool reached = g[16 + dy, 16 + dx].item<float>() > 0;
                Assert.True(reached == (expected.Contains(dy) && expected.Contains(dx)), $"offset ({dy}, {dx}): reached {reached}");
            }
        // Rates of another length, or on an undilated stage, are refused.
        Assert.Throws<TesseraUserException>(() => new ResNet(ResNetDepth.ResNet18, 16, 0, 16, true, [1, 2, 3]));
        Assert.Throws<TesseraUserException>(() => new ResNet(ResNetDepth.ResNet18, 32, 0, 16, true, rates));
    }
}
