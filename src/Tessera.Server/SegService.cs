using System.Diagnostics;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Models;
using TorchSharp;

namespace Tessera.Server;

/// <summary>
/// The loaded segmentation model of <c>tessera seg train</c>: label maps and overlays, one request at a time. Loading,
/// prediction and the label and overlay PNGs are the library's (<see cref="SegmentationModel"/>,
/// <see cref="PredictionWriter"/>), as <c>tessera seg predict</c> uses them: the same checkpoint gives the same label PNG.
/// </summary>
public sealed class SegService : IModelService, IDisposable
{
    private readonly SegmentationModel _model;

    /// <summary>The model's queue.</summary>
    public ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    public string Checkpoint { get; }

    /// <summary>The configuration.</summary>
    public SegModelConfig Config => _model.Config;

    /// <summary>The classes (names, colours, label convention) the checkpoint recorded.</summary>
    public LabelSet Labels => _model.Labels;

    /// <summary>How images are run (whole or slide), as the checkpoint's training validated.</summary>
    public InferenceOptions Inference => _model.Inference;

    /// <summary>Parameters.</summary>
    public long Parameters { get; }

    /// <summary>Device.</summary>
    public string Device => _model.Device.ToString();

    /// <summary>Loads <paramref name="checkpoint"/> onto <paramref name="device"/> to run at <paramref name="precision"/>.</summary>
    public SegService(string checkpoint, torch.Device device, int queueLength, Tessera.Runtime.Precision precision = Tessera.Runtime.Precision.Float32)
    {
        Checkpoint = checkpoint;
        _model = SegmentationModel.Load(checkpoint, device, precision);
        Parameters = _model.Network.parameters().Sum(p => p.NumberOfElements);
        Queue = new ModelQueue("segmentation", queueLength);
    }

    /// <summary>Label map, overlay and class shares of an uploaded image, run as the checkpoint's training validated (<see cref="SegmentationModel.Inference"/>).</summary>
    public Task<SegPredictResponse> PredictAsync(byte[] bytes, CancellationToken cancel) => Queue.RunAsync(_ =>
    {
        var clock = Stopwatch.StartNew();
        SegmentationSample image;
        using (var rgb = HttpIO.DecodeRgb(bytes)) image = SegmentationSample.FromImage(rgb);
        byte[] prediction = _model.Predict(image);
        var labels = _model.Labels;
        var counts = new long[labels.Names.Count];
        foreach (byte v in prediction)
            if (v < counts.Length) counts[v]++;
        var shares = counts.Select((n, c) => new SegClassShare(c, labels.Names[c], labels.Colors[c], n, (double)n / prediction.Length)).ToArray();
        return new SegPredictResponse(
            Convert.ToBase64String(PredictionWriter.EncodeLabels(labels, prediction, image.Width, image.Height)),
            Convert.ToBase64String(PredictionWriter.EncodeOverlay(prediction, image, labels.Palette)),
            image.Width, image.Height, shares, clock.Elapsed.TotalMilliseconds);
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
