using Tessera.IO.Video;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam2.Modeling;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// A video's frames: a folder of JPEG frames in the official layout (<see cref="Open"/>: <c>&lt;frame index&gt;.jpg</c>,
/// e.g. 00000.jpg …; the extensions .jpg, .jpeg, .JPG, .JPEG; sorted by the number), read frame by frame when needed, or
/// a video file (<see cref="OpenVideo"/>) decoded once by ffmpeg into a temporary file of raw frames. A frame enters the
/// model as SAM 2's JPEG loader makes it: decoded to RGB, resized to the square model input by Pillow's bicubic filter
/// (<see cref="PilBilinear.ResizeBicubic"/>), scaled to [0, 1] and normalised by the ImageNet mean and std. Dispose it
/// to delete a video's temporary file.
/// </summary>
public sealed class Sam2VideoFrames : IDisposable
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".JPG", ".JPEG"];
    private readonly VideoFrameSpool? _spool;

    private Sam2VideoFrames(string source, IReadOnlyList<string> paths, IReadOnlyList<string> names, int height, int width, double? fps, VideoFrameSpool? spool)
    {
        Source = source;
        Paths = paths;
        Names = names;
        Height = height;
        Width = width;
        FramesPerSecond = fps;
        _spool = spool;
    }

    /// <summary>The frame folder or the video file.</summary>
    public string Source { get; }
    /// <summary>The frame files in order (empty for a video file).</summary>
    public IReadOnlyList<string> Paths { get; }
    /// <summary>Each frame's name: its file's name without extension, or for a video file its index in five digits (00000, 00001, …).</summary>
    public IReadOnlyList<string> Names { get; }
    /// <summary>Number of frames.</summary>
    public int Count => Names.Count;
    /// <summary>The video file's frame rate, or null (a frame folder, or a file that does not say).</summary>
    public double? FramesPerSecond { get; }
    /// <summary>Frame height in pixels (of the first frame; every frame must have it).</summary>
    public int Height { get; }
    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }

    /// <summary>Lists the frames of <paramref name="folder"/> and reads the first one's size.</summary>
    /// <exception cref="TesseraUserException">No such folder, no JPEG frames, or a frame name that is not a number.</exception>
    public static Sam2VideoFrames Open(string folder)
    {
        if (!Directory.Exists(folder)) throw new TesseraUserException(nameof(folder), $"frame folder '{folder}' does not exist");
        var frames = new List<(long Index, string Path)>();
        foreach (var path in Directory.EnumerateFiles(folder))
        {
            string ext = Path.GetExtension(path);
            if (!Extensions.Contains(ext, StringComparer.Ordinal)) continue;
            string stem = Path.GetFileNameWithoutExtension(path);
            if (!long.TryParse(stem, NumberStyles.Integer, CultureInfo.InvariantCulture, out long index))
                throw new TesseraUserException(nameof(folder), $"frame file '{path}' is not named by its frame number (expected e.g. 00000.jpg)");
            frames.Add((index, path));
        }
        if (frames.Count == 0) throw new TesseraUserException(nameof(folder), $"no JPEG frames (.jpg, .jpeg) in '{folder}'");
        var paths = frames.OrderBy(f => f.Index).Select(f => f.Path).ToList();
        var (width, height) = ImageIO.ReadSize(paths[0]);
        return new Sam2VideoFrames(folder, paths, [.. paths.Select(p => Path.GetFileNameWithoutExtension(p))], height, width, null, null);
    }

    /// <summary>
    /// Decodes every frame of the video file <paramref name="path"/> through Debian's ffmpeg (<see cref="VideoFile"/>)
    /// into a temporary file (width × height × 3 bytes a frame; memory holds one frame), for the official
    /// <c>init_state</c> on a video file. The official code decodes with decord and lets it resize to the model input;
    /// here the frames keep their decoded size and are resized like JPEG frames (Pillow's bicubic).
    /// </summary>
    /// <exception cref="TesseraUserException">ffmpeg is not installed, or the file does not exist.</exception>
    /// <exception cref="TesseraFormatException">Not a video ffmpeg can read, or no frames.</exception>
    public static Sam2VideoFrames OpenVideo(string path, CancellationToken cancellationToken = default)
    {
        using var video = VideoFile.Open(path, cancellationToken);
        return Decode(video, int.MaxValue, cancellationToken);
    }

    /// <summary>
    /// <see cref="OpenVideo"/> on a file already opened (and checked) by the caller, refusing more than
    /// <paramref name="maxFrames"/> frames as soon as one more is decoded.
    /// </summary>
    /// <exception cref="TesseraUserException">More than <paramref name="maxFrames"/> frames.</exception>
    /// <exception cref="TesseraFormatException">Not decodable, or no frames.</exception>
    internal static Sam2VideoFrames Decode(VideoFile video, int maxFrames, CancellationToken cancellationToken)
    {
        var spool = VideoFrameSpool.Decode(video, cancellationToken, maxFrames);
        var names = Enumerable.Range(0, spool.Count).Select(i => i.ToString("D5", CultureInfo.InvariantCulture)).ToArray();
        return new Sam2VideoFrames(video.Path, [], names, video.Height, video.Width, video.FramesPerSecond, spool);
    }

    /// <summary>The RGB frame <paramref name="index"/> as decoded, uint8 [H, W, 3].</summary>
    /// <exception cref="TesseraFormatException">Undecodable, or of another size than the first frame.</exception>
    public torch.Tensor Rgb(int index)
    {
        if (_spool is not null)
        {
            var rgb = new byte[_spool.FrameBytes];
            _spool.Read(index, rgb);
            return torch.tensor(rgb, dtype: torch.ScalarType.Byte).view(Height, Width, 3);
        }
        var bitmap = ImageIO.Decode(Paths[index]);
        if (bitmap.Height != Height || bitmap.Width != Width)
            throw new TesseraFormatException(Paths[index], $"frame is {bitmap.Width} x {bitmap.Height}, the first frame {Width} x {Height}");
        using var chw = ImageIO.ToTensor(bitmap, ColorMode.Rgb);
        return chw.permute(1, 2, 0).contiguous();
    }

    /// <summary>Frame <paramref name="index"/> as model input [1, 3, S, S] (float32) on <paramref name="device"/>.</summary>
    public torch.Tensor ModelInput(int index, int size, torch.Device device)
    {
        using var scope = torch.NewDisposeScope();
        var rgb = Rgb(index);
        var resized = PilBilinear.ResizeBicubic(rgb.bytes, Height, Width, 3, size, size);
        // x/255 in float64, then float32 (the loader's numpy division, stored in a float32 tensor); (x − mean)/std
        var x = torch.tensor(resized, dtype: torch.ScalarType.Byte).view(size, size, 3).permute(2, 0, 1)
            .to(torch.ScalarType.Float64).div(255.0).to(torch.ScalarType.Float32);
        var mean = torch.tensor(Sam2Model.PixelMean).view(3, 1, 1);
        var std = torch.tensor(Sam2Model.PixelStd).view(3, 1, 1);
        return ((x - mean) / std).unsqueeze(0).to(device).MoveToOuterDisposeScope();
    }

    /// <summary>Deletes a video file's temporary frames (nothing for a frame folder).</summary>
    public void Dispose() => _spool?.Dispose();
}
