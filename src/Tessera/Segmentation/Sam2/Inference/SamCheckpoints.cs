using System.IO.Compression;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Segmentation.Sam2.Inference;

/// <summary>A loaded model of any SAM family and its predictor; disposing it disposes both.</summary>
/// <param name="Model">The model (<see cref="SamModel"/> or <see cref="Sam2Model"/>).</param>
/// <param name="Predictor">The predictor over it.</param>
public sealed record LoadedSam(torch.nn.Module Model, ISamPredictor Predictor) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Predictor.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// Checkpoints of every SAM family, told apart by their tensor names: SAM 2 / SAM 2.1 (<c>sam_mask_decoder.*</c>,
/// <c>image_encoder.trunk.*</c>), otherwise Segment Anything or MobileSAM (<c>mask_decoder.*</c>). It lives beside SAM 2's
/// predictor because SAM 2 builds on SAM (never the other way round).
/// </summary>
public static class SamCheckpoints
{
    private const string Sam2Marker = "sam_mask_decoder.";

    /// <summary>
    /// The family a checkpoint holds, from its tensor names alone (safetensors: the header; PyTorch zip: the names in its
    /// pickle), without reading the weights. Loading then checks the file strictly.
    /// </summary>
    /// <exception cref="TesseraFormatException">The file is missing or neither a zip nor a safetensors file.</exception>
    public static SamFamily Detect(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        Span<byte> head = stackalloc byte[2];
        using (var f = File.OpenRead(path)) _ = f.Read(head);
        if (head[0] == (byte)'P' && head[1] == (byte)'K') return PickleNames(path) ? SamFamily.Sam2 : SamFamily.Sam;
        var (entries, _, _) = SafeTensors.ReadHeader(path);
        return entries.Any(e => e.Name.StartsWith(Sam2Marker, StringComparison.Ordinal)) ? SamFamily.Sam2 : SamFamily.Sam;
    }

    // Whether a pickle of the zip names a SAM 2 decoder tensor (state-dict keys are pickled as UTF-8 strings).
    private static bool PickleNames(string path)
    {
        var marker = System.Text.Encoding.ASCII.GetBytes(Sam2Marker);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var entry in zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.Ordinal) && e.Length < 1L << 30))
            {
                using var s = entry.Open();
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                if (ms.GetBuffer().AsSpan(0, (int)ms.Length).IndexOf(marker) >= 0) return true;
            }
            return false;
        }
        catch (InvalidDataException e)
        {
            throw new TesseraFormatException(path, $"not a readable zip archive ({e.Message})");
        }
    }

    /// <summary>
    /// Loads a checkpoint of any family onto <paramref name="device"/> and makes its predictor: <see cref="Sam2Predictor"/>
    /// for SAM 2, <see cref="SamPredictor"/> otherwise, the image encoder at <paramref name="precision"/> (<see cref="EncoderPrecision"/>).
    /// </summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="device">Where the model goes.</param>
    /// <param name="precision">The number format of the image encoder (every family; <see cref="EncoderPrecision"/>).</param>
    /// <param name="imageSize">SAM 2's model input side (its configuration's image_size, which the weights do not show; 1024 for every release); SAM reads its own from the weights.</param>
    /// <exception cref="TesseraFormatException">The file is unreadable or not a checkpoint of a SAM family.</exception>
    /// <exception cref="TesseraUserException">Float16 on a CPU without float16 instructions (parameter <c>precision</c>).</exception>
    public static LoadedSam Open(string path, torch.Device device, Runtime.Precision precision = Runtime.Precision.Float32, int imageSize = 1024)
    {
        if (Detect(path) == SamFamily.Sam2)
        {
            var sam2 = Sam2Model.Load(path, device, imageSize: imageSize);
            try
            {
                return new LoadedSam(sam2, new Sam2Predictor(sam2, precision: precision));
            }
            catch
            {
                sam2.Dispose();
                throw;
            }
        }
        var sam = SamModel.Load(path, device);
        try
        {
            return new LoadedSam(sam, new SamPredictor(sam, precision));
        }
        catch
        {
            sam.Dispose();
            throw;
        }
    }
}
