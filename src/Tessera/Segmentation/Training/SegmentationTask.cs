using Tessera.Segmentation.Models;

namespace Tessera.Segmentation.Training;

/// <summary>
/// What a segmentation task of the engine is wherever its data come from: a model built from its
/// <see cref="SegModelConfig"/> (on a new run with torchvision backbone weights, or all weights of a pretrained
/// checkpoint), recorded as that configuration, and scored by mIoU. <see cref="SegTrainer"/> (Fashion-MNIST scenes) and <see cref="SegDatasetTrainer"/> (dataset
/// splits) add the data, the loss of a batch and the evaluation.
/// </summary>
internal abstract class SegmentationTask(SegModelConfig config, string? backboneWeights, string? pretrained, torch.Device device) : ITrainingTask
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

    // A checkpoint of an earlier version recorded no class names: they count as this run's.
    public string CanonicalConfig(string json, string path)
    {
        var saved = SegModelConfig.FromJson(json, path);
        return (saved with { Labels = saved.Labels ?? config.Labels }).ToJson();
    }

    public torch.nn.Module Build(torch.Device device, bool resume)
    {
        var model = config.Build(resume ? null : backboneWeights, nameof(SegTrainOptions.BackboneWeights));
        try
        {
            if (!resume && pretrained is not null) TrainingCheckpoint.Load(pretrained, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.to(device);
        return Model = model;
    }

    public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => Model!.parameters();

    public abstract void Prepare(long startStep, CancellationToken cancellation);

    public abstract torch.Tensor Loss(MicroBatch batch, torch.Generator generator);

    public abstract EvalPoint? Evaluate();

    public virtual void Dispose() => Model?.Dispose();
}
