using Tessera.Segmentation.Inference;
using static TorchSharp.torch;

namespace Tessera.Tests;

public class SegInferenceTests
{
    private static (Func<Tensor, Tensor> Model, IDisposable Owner) PointwiseModel(int classes, long seed)
    {
        var gen = new Generator((ulong)seed);
        var conv = nn.Conv2d(3, classes, 1);
        using (no_grad())
        {
            conv.weight!.copy_(randn(conv.weight.shape, generator: gen));
            conv.bias!.copy_(randn(conv.bias.shape, generator: gen));
        }
        return (x => { using var g = no_grad(); return conv.forward(x); }, conv);
    }

    [Fact]
    public void Slide_equals_whole_for_a_model_whose_receptive_field_fits_a_window()
    {
        var (model, owner) = PointwiseModel(5, 1);
        using var _ = owner;
        using var image = randn([2, 3, 37, 53], generator: new Generator(2));
        using var whole = SegInference.Whole(model, image);
        // Windows 16×20 every 11×13 overlap unevenly (counts 1–4); the last row and column end at the border.
        using var slide = SegInference.Slide(model, image, 16, 20, 11, 13);
        Assert.Equal(whole.shape, slide.shape);
        Assert.True(whole.allclose(slide, rtol: 1e-5, atol: 1e-5));
        // Windows larger than the image: one window, the image itself.
        using var big = SegInference.Slide(model, image, 64, 64, 32, 32);
        Assert.True(whole.allclose(big, rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void Slide_divides_by_the_number_of_windows_covering_each_pixel()
    {
        // A model that outputs 1 everywhere: the average of overlapping ones is exactly 1 wherever windows overlap.
        Func<Tensor, Tensor> ones = x => torch.ones([x.shape[0], 2, x.shape[2], x.shape[3]]);
        using var image = zeros([1, 3, 30, 30]);
        using var s = SegInference.Slide(ones, image, 12, 12, 7, 7);
        Assert.Equal(1.0, s.min().item<float>(), 6);
        Assert.Equal(1.0, s.max().item<float>(), 6);
        // A model whose output is the window's x offset marker: a column's value is the mean of the offsets of the
        // windows covering it. Windows x1 ∈ {0, 7, 14, 18} (the last moved back to end at 30): column 16 is covered
        // by windows starting at 7 and 14 → (7 + 14)/2 = 10.5 when the model returns each window's left edge.
        Func<Tensor, Tensor> left = x => torch.full([x.shape[0], 1, x.shape[2], x.shape[3]], (float)x[0, 0, 0, 0].item<float>());
        using var ramp = arange(30, dtype: ScalarType.Float32).view(1, 1, 1, 30).expand(1, 3, 30, 30).contiguous();
        using var m = SegInference.Slide(left, ramp, 12, 12, 7, 7);
        Assert.Equal(10.5f, m[0, 0, 0, 16].item<float>(), 5);
        Assert.Equal(0f, m[0, 0, 0, 3].item<float>(), 5);
        Assert.Equal(18f, m[0, 0, 0, 29].item<float>(), 5);
        Assert.Equal((14f + 18f) / 2, m[0, 0, 0, 19].item<float>(), 5);
    }

    [Fact]
    public void Flip_and_scale_one_augmentation_of_a_pointwise_model_is_its_softmax()
    {
        var (model, owner) = PointwiseModel(4, 3);
        using var _ = owner;
        using var image = randn([1, 3, 24, 31], generator: new Generator(4));
        using var expected = model(image).softmax(1);
        using var flip = SegInference.Probabilities(model, image, new InferenceOptions(Flip: true));
        using var slideFlip = SegInference.Probabilities(model, image, new InferenceOptions(InferenceMode.Slide, 10, 10, 7, 7, Flip: true));
        Assert.True(expected.allclose(flip, rtol: 1e-5, atol: 1e-6));
        Assert.True(expected.allclose(slideFlip, rtol: 1e-5, atol: 1e-6));
        // Multi-scale: results at the original resolution, probabilities summing to one.
        using var ms = SegInference.Probabilities(model, image, new InferenceOptions(Scales: [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], Flip: true));
        Assert.Equal(new long[] { 1, 4, 24, 31 }, ms.shape);
        Assert.True(ms.sum(1).allclose(torch.ones([1, 24, 31]), atol: 1e-5));
        using var pred = SegInference.Predict(model, image, new InferenceOptions());
        Assert.True(pred.eq(expected.argmax(1)).all().item<bool>());
    }
}
