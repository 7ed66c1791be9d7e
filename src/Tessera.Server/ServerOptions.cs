using TorchSharp;

namespace Tessera.Server;

/// <summary>What <see cref="TesseraServer.Build"/> serves and how.</summary>
public sealed record ServerOptions
{
    /// <summary>SAM checkpoint (official .pth or Tessera .safetensors); null: no SAM endpoints.</summary>
    public string? SamCheckpoint { get; init; }

    /// <summary>SAM 2's model input side (its configuration's image_size, which the weights do not show). Default 1024, every release.</summary>
    public int SamImageSize { get; init; } = 1024;

    /// <summary>Most frames an uploaded clip may have (SAM 2 video).</summary>
    public int MaxVideoFrames { get; init; } = 300;

    /// <summary>Clips kept (SAM 2 video); a new one evicts the least recently used.</summary>
    public int MaxVideos { get; init; } = 4;

    /// <summary>Diffusion checkpoint of <c>tessera diffusion train</c>; null: no sampling endpoint.</summary>
    public string? DiffusionCheckpoint { get; init; }

    /// <summary>Segmentation checkpoint of <c>tessera seg train</c>; null: no segmentation endpoint.</summary>
    public string? SegCheckpoint { get; init; }

    /// <summary>The number format of the segmentation model (<see cref="Tessera.Segmentation.Inference.SegmentationModel.Precision"/>; issue 28). Default float32.</summary>
    public Tessera.Runtime.Precision SegPrecision { get; init; }

    /// <summary>Address to listen on.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port (0: any free port; read the bound one from <see cref="TesseraServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Budget of the SAM embedding cache, in MiB.</summary>
    public int CacheMb { get; init; } = 2048;

    /// <summary>Largest accepted upload, in MiB.</summary>
    public int MaxUploadMb { get; init; } = 20;

    /// <summary>Requests that may wait for one model besides the one running; more get 429.</summary>
    public int QueueLength { get; init; } = 16;

    /// <summary>Most samples one diffusion request may ask for.</summary>
    public int MaxSamples { get; init; } = 64;

    /// <summary>Device the models live on.</summary>
    public torch.Device? Device { get; init; }

    /// <summary>Where the request log and start-up lines go (default: standard error).</summary>
    public Action<string>? Log { get; init; }
}
