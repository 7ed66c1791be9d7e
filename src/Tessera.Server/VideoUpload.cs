using System.Globalization;
using Microsoft.AspNetCore.Http;
using Tessera.IO;
using Tessera.IO.Video;
using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Server;

/// <summary>
/// A clip uploaded as frame images, written as the official frame folder (<c>00000.jpg</c>, <c>00001.jpg</c>, … in upload
/// order) that <see cref="Sam2VideoFrames.Open"/> reads: a JPEG is kept byte for byte (the model sees what the official
/// loader would), a PNG is decoded and stored as a JPEG of quality <see cref="PngQuality"/> (SAM 2's loader reads JPEGs only).
/// A clip uploaded as one video file is decoded by Debian's ffmpeg as <c>tessera sam track --video</c> decodes it
/// (<see cref="OpenVideoAsync"/>): its frames are kept as decoded, losslessly, outside the frame folder.
/// </summary>
internal static class VideoUpload
{
    /// <summary>JPEG quality of a frame uploaded as PNG, and of a video file's frame sent to the page.</summary>
    public const int PngQuality = 95;

    /// <summary>Writes <paramref name="files"/> into <paramref name="folder"/> and opens them as frames.</summary>
    /// <exception cref="ApiException">400: no files, more than <paramref name="maxFrames"/>, a file that is not a JPEG or PNG, larger than <paramref name="maxPixels"/>, or of another size than the first.</exception>
    public static async Task<Sam2VideoFrames> WriteFramesAsync(IReadOnlyList<IFormFile> files, string folder, int maxFrames, long maxPixels, CancellationToken cancel)
    {
        if (files.Count == 0) throw ApiException.BadRequest("frames: no files; send the frame images (JPEG or PNG, in order) as multipart/form-data files named 'frames'");
        if (files.Count > maxFrames) throw ApiException.BadRequest($"frames: {files.Count} files; a clip has at most {maxFrames} frames");
        Directory.CreateDirectory(folder);
        (int W, int H) first = default;
        for (int i = 0; i < files.Count; i++)
        {
            string field = $"frames[{i}] ('{files[i].FileName}')";
            byte[] bytes;
            using (var memory = new MemoryStream())
            {
                await files[i].CopyToAsync(memory, cancel).ConfigureAwait(false);
                bytes = memory.ToArray();
            }
            bool png = PngReader.IsPng(bytes), jpeg = bytes.Length > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
            if (!png && !jpeg) throw ApiException.BadRequest($"{field}: not a JPEG or PNG image");
            (int W, int H) size;
            try
            {
                using var header = new MemoryStream(bytes, writable: false);
                size = ImageIO.ReadSize(header, field);
            }
            catch (TesseraUserException e)
            {
                throw ApiException.BadRequest($"{field}: not a readable image ({e.Detail})");
            }
            if ((long)size.W * size.H > maxPixels) throw ApiException.BadRequest($"{field}: {size.W}×{size.H} is more than {maxPixels:N0} pixels per frame");
            if (i == 0) first = size;
            else if (size != first) throw ApiException.BadRequest($"{field}: {size.W}×{size.H}, frame 0 is {first.W}×{first.H}; every frame must have one size");
            string path = Path.Combine(folder, i.ToString("D5", CultureInfo.InvariantCulture) + ".jpg");
            if (jpeg)
            {
                await File.WriteAllBytesAsync(path, bytes, cancel).ConfigureAwait(false);
            }
            else
            {
                using var rgb = HttpIO.DecodeRgb(bytes);
                ImageIO.SaveJpeg(rgb, path, PngQuality);
            }
        }
        return Sam2VideoFrames.Open(folder);
    }

    /// <summary>
    /// Decodes the video file <paramref name="video"/> as <c>tessera sam track --video</c> does
    /// (<see cref="Sam2VideoFrames.OpenVideo"/>: every frame through ffmpeg into a temporary file of raw RGB, deleted
    /// when the frames are disposed; memory holds one frame), so the model sees the decoded pixels, losslessly. The
    /// uploaded file is written to <paramref name="scratch"/> for ffmpeg and deleted once decoded.
    /// </summary>
    /// <exception cref="ApiException">400: not a video ffmpeg can read (or ffmpeg missing), frames larger than <paramref name="maxPixels"/>, more than <paramref name="maxFrames"/> frames.</exception>
    public static async Task<Sam2VideoFrames> OpenVideoAsync(IFormFile video, string scratch, int maxFrames, long maxPixels, CancellationToken cancel)
    {
        string field = $"video ('{video.FileName}')";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(scratch))!);
        await using (var file = File.Create(scratch)) await video.CopyToAsync(file, cancel).ConfigureAwait(false);
        try
        {
            using var reader = VideoFile.Open(scratch, cancel);
            if ((long)reader.Width * reader.Height > maxPixels)
                throw ApiException.BadRequest($"{field}: {reader.Width}×{reader.Height} is more than {maxPixels:N0} pixels per frame");
            return Sam2VideoFrames.Decode(reader, maxFrames, cancel);
        }
        catch (TesseraUserException e)
        {
            throw ApiException.BadRequest($"{field}: {e.Detail}");
        }
        finally
        {
            File.Delete(scratch);
        }
    }
}
