using Tessera.Segmentation.Data;
using Tessera.Segmentation.Metrics;
using Tessera.Segmentation.Transforms;

namespace Tessera.Segmentation.Inference;

/// <summary>
/// A network scored on a dataset split at the images' original resolution: each image normalised as the model was
/// trained (<see cref="Models.SegModelConfig.ImageNetInput"/>), run by <see cref="SegInference.Predict"/> (whole or
/// slide, optional multi-scale and flip), and its prediction counted into a confusion matrix against its label.
/// </summary>
public static class DatasetEvaluation
{
    /// <summary>The network input [1, 3, H, W] of a sample: ImageNet-normalised on the 0–255 scale, or scaled to [0, 1].</summary>
    public static torch.Tensor Input(SegmentationSample sample, bool imageNet)
    {
        if (imageNet)
        {
            var n = Normalize.ImageNet.Apply(sample);
            return torch.tensor(n.Image, [1, 3, n.Height, n.Width], torch.ScalarType.Float32);
        }
        using var rgb = sample.ImageTensor();
        return rgb.to(torch.ScalarType.Float32).div(255f).unsqueeze(0);
    }

    /// <summary>[0, 1] RGB (any leading shape, channels third from last) to ImageNet normalisation on the 0–255 scale.</summary>
    public static torch.Tensor ImageNetFromUnit(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var mean = torch.tensor(Normalize.ImageNet.Mean, [3, 1, 1], torch.ScalarType.Float32).to(x.device);
        var std = torch.tensor(Normalize.ImageNet.Std, [3, 1, 1], torch.ScalarType.Float32).to(x.device);
        return (x * 255f - mean).div(std).MoveToOuterDisposeScope();
    }

    /// <summary>The predicted labels (uint8, row-major, CPU) of one sample at its original resolution.</summary>
    public static byte[] Predict(torch.nn.Module<torch.Tensor, torch.Tensor> network, SegmentationSample sample, InferenceOptions options, bool imageNet, torch.Device device)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var input = Input(sample, imageNet).to(device);
        var pred = SegInference.Predict(network.forward, input, options)[0].to(torch.ScalarType.Byte).cpu();
        return pred.data<byte>().ToArray();
    }

    /// <summary>
    /// Counts the predictions of the items <paramref name="indices"/> of <paramref name="dataset"/> against their labels
    /// (the network is put in evaluation mode). <paramref name="progress"/> gets the number of images done;
    /// <paramref name="cancellation"/> stops between images.
    /// </summary>
    public static ConfusionMatrix Evaluate(torch.nn.Module<torch.Tensor, torch.Tensor> network, ISegmentationDataset dataset, IReadOnlyList<int> indices,
        InferenceOptions options, bool imageNet, torch.Device device, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        network.eval();
        var cm = new ConfusionMatrix(dataset.NumClasses);
        int done = 0;
        foreach (int i in indices)
        {
            cancellation.ThrowIfCancellationRequested();
            var sample = dataset.Load(i);
            var pred = Predict(network, sample, options, imageNet, device);
            cm.Add(sample.Label, pred, dataset[i].Label);
            progress?.Report(++done);
        }
        return cm;
    }
}
