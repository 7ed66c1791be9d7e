using Tessera.Runtime;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Models;

namespace Tessera.Segmentation.Inference;

/// <summary>
/// A trained semantic-segmentation network (GCN-Net, DeepLabV3, FCN, …) with its configuration, loaded from a
/// checkpoint of Tessera's segmentation trainers, ready to label images: the one loader and the one per-image
/// prediction that the command line, the server and batch prediction share.
/// </summary>
public sealed class SegmentationModel : IDisposable
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _net;

    private SegmentationModel(SegModelConfig config, torch.nn.Module<torch.Tensor, torch.Tensor> net, torch.Device device, InferenceOptions inference, Precision precision) =>
        (Config, _net, Device, Inference, Precision) = (config, net, device, inference, precision);

    /// <summary>
    /// The number format the network runs in (issue 28): float32, or bfloat16/float16 weights and activations (every
    /// layer, BatchNorm folded into the convolutions in float32 first) with the input converted on the way in and the
    /// logits converted to float32 as they leave the network; normalisation statistics and softmax accumulate in float32.
    /// </summary>
    public Precision Precision { get; }

    /// <summary>The configuration the checkpoint recorded.</summary>
    public SegModelConfig Config { get; }

    /// <summary>Where the weights live.</summary>
    public torch.Device Device { get; }

    /// <summary>
    /// The classes: names, colours and the label-file convention the checkpoint recorded (for checkpoints of earlier
    /// versions, <see cref="LabelSet.Default"/>).
    /// </summary>
    public LabelSet Labels => Config.ClassLabels;

    /// <summary>How the training run validated (whole or slide, crop and stride of a dataset run); whole for Fashion-MNIST scenes.</summary>
    public InferenceOptions Inference { get; }

    /// <summary>The network (evaluation mode): forward maps [B, 3, H, W] float32 inputs to [B, classes, H, W] float32 logits (at <see cref="Precision"/> inside).</summary>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Network => _net;

    /// <summary>Loads a checkpoint of Tessera's segmentation trainers (its model weights) onto <paramref name="device"/> (default CPU), float32.</summary>
    /// <exception cref="TesseraFormatException">Not a segmentation checkpoint, or its weights do not fit its configuration.</exception>
    public static SegmentationModel Load(string path, torch.Device? device = null) => Load(path, device, Precision.Float32);

    /// <summary>
    /// Loads a checkpoint of Tessera's segmentation trainers onto <paramref name="device"/> (default CPU) to run at
    /// <paramref name="precision"/> (see <see cref="Precision"/>).
    /// </summary>
    /// <exception cref="TesseraFormatException">Not a segmentation checkpoint, or its weights do not fit its configuration.</exception>
    /// <exception cref="TesseraUserException">Float16 on a CPU without float16 instructions (parameter <c>precision</c>).</exception>
    public static SegmentationModel Load(string path, torch.Device? device, Precision precision)
    {
        device ??= torch.CPU;
        precision.Require(device, nameof(precision));
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        var header = SafeTensors.ReadHeader(path);
        string json = CheckpointMetadata.ModelConfig(header.Metadata, ModelKind.Segmentation)
            ?? throw new TesseraFormatException(path, "not a segmentation checkpoint of Tessera's segmentation trainer (no segmentation model configuration in its metadata)");
        var config = SegModelConfig.FromJson(json, path);
        var net = config.Build();
        try
        {
            TrainingCheckpoint.Load(path, net);
            net.to(device).eval();
            var run = precision == Precision.Float32 ? net : new PrecisionNetwork(net, precision);
            run.eval();
            return new SegmentationModel(config, run, device, RecordedInference(header.Metadata, path), precision);
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The predicted labels (uint8 class indices, row-major, at the image's resolution) of one image, normalised as the
    /// model was trained and run by <see cref="SegInference.Predict"/> with <paramref name="options"/> (default
    /// <see cref="Inference"/>).
    /// </summary>
    public byte[] Predict(SegmentationSample image, InferenceOptions? options = null) =>
        DatasetEvaluation.Predict(_net, image, options ?? Inference, Config.ImageNetInput, Device);

    // The validation inference a dataset run recorded in its task options (absent: whole image).
    private static InferenceOptions RecordedInference(IReadOnlyDictionary<string, string> metadata, string path)
    {
        if (!metadata.TryGetValue(CheckpointMetadata.TaskKey, out string? task)) return new InferenceOptions();
        try
        {
            using var doc = JsonDocument.Parse(task);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(nameof(Inference), out var inference)
                ? inference.Deserialize<InferenceOptions>() ?? new InferenceOptions()
                : new InferenceOptions();
        }
        catch (JsonException e) { throw new TesseraFormatException(path, $"training options are not valid JSON ({e.Message})", e); }
    }

    /// <summary>
    /// Class logits of one image: <paramref name="rgb"/> is [3, H, W], bytes or floats in [0, 1] (as
    /// <see cref="ImageIO.Load"/> gives with a conversion); returns [classes, H, W] float logits on the CPU.
    /// </summary>
    public torch.Tensor Logits(torch.Tensor rgb)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var x = rgb.dtype == torch.ScalarType.Byte ? rgb.to(torch.ScalarType.Float32).div(255f) : rgb.to(torch.ScalarType.Float32);
        if (Config.ImageNetInput) x = DatasetEvaluation.ImageNetFromUnit(x);
        return _net.forward(x.unsqueeze(0).to(Device))[0].cpu().MoveToOuterDisposeScope();
    }

    /// <summary>The label map of one image: [H, W] class indices (int64) on the CPU; see <see cref="Logits"/> for the input.</summary>
    public torch.Tensor Predict(torch.Tensor rgb)
    {
        using var logits = Logits(rgb);
        return logits.argmax(0);
    }

    /// <inheritdoc />
    public void Dispose() => _net.Dispose();
}
