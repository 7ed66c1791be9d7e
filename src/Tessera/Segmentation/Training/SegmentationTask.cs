using Tessera.Training;
using TorchSharp;

namespace Tessera.Segmentation.Training;

/// <summary>
/// What a segmentation task of the engine is wherever its data come from: a model built from its
/// <see cref="SegModelConfig"/> (with torchvision backbone weights on a new run), recorded as that configuration, and
/// scored by mIoU. <see cref="SegTrainer"/> (Fashion-MNIST scenes) and <see cref="SegDatasetTrainer"/> (dataset
/// splits) add the data, the loss of a batch and the evaluation.
/// </summary>
internal abstract class SegmentationTask(SegModelConfig config, string? backboneWeights, torch.Device device) : ITrainingTask
{
    /// <summary>The device the model is on.</summary>
    protected torch.Device Device { get; } = device;

    /// <summary>The model, once built.</summary>
    protected torch.nn.Module<torch.Tensor, torch.Tensor>? Model { get; private set; }

    public ModelKind Kind => ModelKind.Segmentation;
    public string ModelConfigJson => config.ToJson();
    public abstract string TaskOptionsJson { get; }
    public string EvalName => "mIoU";
    public abstract string PlotTitle { get; }

    public string CanonicalConfig(string json, string path) => SegModelConfig.FromJson(json, path).ToJson();

    public torch.nn.Module Build(torch.Device device, bool resume)
    {
        var model = config.Build(resume ? null : backboneWeights, nameof(SegTrainOptions.BackboneWeights));
        model.to(device);
        return Model = model;
    }

    public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => Model!.parameters();

    public abstract void Prepare(long startStep, CancellationToken cancellation);

    public abstract torch.Tensor Loss(MicroBatch batch, torch.Generator generator);

    public abstract EvalPoint? Evaluate();

    public virtual void Dispose() => Model?.Dispose();
}
