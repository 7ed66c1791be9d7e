using System.Diagnostics;
using Tessera.IO;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Training;
using Tessera.Training;
using TorchSharp;

namespace Tessera.Server;

/// <summary>The loaded segmentation model of <c>tessera seg train</c>: label maps and overlays, one request at a time.</summary>
public sealed class SegService : IModelService, IDisposable
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _model;
    private readonly torch.Device _device;

    /// <summary>The model's queue.</summary>
    public ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    public string Checkpoint { get; }

    /// <summary>The configuration.</summary>
    public SegModelConfig Config { get; }

    /// <summary>Parameters.</summary>
    public long Parameters { get; }

    /// <summary>Device.</summary>
    public string Device => _device.ToString();

    /// <summary>Loads <paramref name="checkpoint"/> onto <paramref name="device"/>.</summary>
    public SegService(string checkpoint, torch.Device device, int queueLength)
    {
        Checkpoint = checkpoint;
        // As tessera seg predict loads it (src/Tessera.Cli/Commands/SegCommands.cs).
        var header = SafeTensors.ReadHeader(checkpoint);
        if (!header.Metadata.TryGetValue("format", out string? format) || format != "tessera.segmentation" || !header.Metadata.TryGetValue("config", out string? cfg))
            throw new TesseraFormatException(checkpoint, "not a segmentation checkpoint of tessera seg train (metadata 'format' is not tessera.segmentation)");
        Config = SegModelConfig.FromJson(cfg, checkpoint);
        _model = Config.Build();
        TrainingCheckpoint.Load(checkpoint, _model);
        _model.to(device).eval();
        _device = device;
        Parameters = _model.parameters().Sum(p => p.NumberOfElements);
        Queue = new ModelQueue("segmentation", queueLength);
    }

    /// <summary>Class names: the Fashion-MNIST scene classes when the count matches, else numbers.</summary>
    public string Name(int c) => Config.Classes == FashionMnistScenes.ClassNames.Count ? FashionMnistScenes.ClassNames[c] : $"class {c}";

    /// <summary>Label map, overlay and class shares of an uploaded image.</summary>
    public Task<SegPredictResponse> PredictAsync(byte[] bytes, CancellationToken cancel) => Queue.RunAsync(_ =>
    {
        var clock = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        var image = HttpIO.DecodeRgb(bytes).to(torch.ScalarType.Float32).div(255f);
        torch.Tensor labels;
        using (torch.no_grad()) labels = _model.forward(image.unsqueeze(0).to(_device)).argmax(1)[0].cpu();
        var colour = FashionMnistScenes.Colorize(labels).to(torch.ScalarType.Float32).div(255f);
        var counts = torch.bincount(labels.flatten(), minlength: Config.Classes).data<long>().ToArray();
        long total = labels.NumberOfElements;
        var shares = Enumerable.Range(0, Config.Classes).Select(c =>
        {
            var p = c < FashionMnistScenes.Palette.Length ? FashionMnistScenes.Palette[c] : [255, 255, 255];
            return new SegClassShare(c, Name(c), $"#{p[0]:x2}{p[1]:x2}{p[2]:x2}", counts[c], (double)counts[c] / total);
        }).ToArray();
        return new SegPredictResponse(HttpIO.PngBase64(labels.to(torch.ScalarType.Byte).unsqueeze(0)), HttpIO.PngBase64(image * 0.5 + colour * 0.5),
            (int)labels.shape[1], (int)labels.shape[0], shares, clock.Elapsed.TotalMilliseconds);
    }, cancel);

    /// <inheritdoc />
    public void Dispose()
    {
        // A call still running after the shutdown timeout keeps its model: freeing tensors under it would crash the process.
        if (!Queue.Close(TimeSpan.FromSeconds(30))) return;
        Queue.Dispose();
        _model.Dispose();
    }
}
