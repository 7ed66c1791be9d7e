using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Server;

/// <summary>Reading request bodies (bounded), strict JSON, images from bytes; PNGs as base64.</summary>
internal static class HttpIO
{
    /// <summary>snake_case names, unknown fields refused (a typo is an error, not a silent default).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Most pixels an uploaded image may have (a decompression bomb is refused before decoding).</summary>
    public const long MaxPixels = 50_000_000;

    /// <summary>The whole body, refused with 400 beyond <paramref name="maxBytes"/>.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken cancel)
    {
        string tooLarge = $"upload is larger than the server's limit of {maxBytes / (1024 * 1024)} MiB";
        if (request.ContentLength > maxBytes) throw ApiException.BadRequest(tooLarge);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancel).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > maxBytes) throw ApiException.BadRequest(tooLarge);
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0) throw ApiException.BadRequest("empty body: send the image file's bytes as the request body");
        return buffer.ToArray();
    }

    /// <summary>Deserialises the JSON body as <typeparamref name="T"/>; 400 with the parser's reason when malformed.</summary>
    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, long maxBytes, CancellationToken cancel) where T : class
    {
        byte[] body = await ReadBodyAsync(request, maxBytes, cancel).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize<T>(body, Json) ?? throw ApiException.BadRequest("malformed JSON: the body is null; expected an object");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("malformed JSON: " + e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>
    /// Decodes image bytes into uint8 RGB [3, H, W] on the CPU: PNG always, JPEG, BMP, GIF and WebP through the
    /// <see cref="ImageIO.Codec"/> the hosting application set (400 naming the package when it set none).
    /// </summary>
    public static torch.Tensor DecodeRgb(byte[] bytes)
    {
        try
        {
            using (var header = new MemoryStream(bytes, writable: false))
            {
                var (w, h) = ImageIO.ReadSize(header, "the body");
                if ((long)w * h > MaxPixels)
                    throw ApiException.BadRequest($"image is {w}×{h}: more than {MaxPixels / 1_000_000} megapixels");
            }
            return ImageIO.ToTensor(ImageIO.Decode(bytes, "the body"), ColorMode.Rgb);
        }
        catch (TesseraUserException e)
        {
            throw ApiException.BadRequest("not an image: " + e.Message);
        }
    }

    /// <summary>A PNG of an image tensor (see <see cref="ImageIO.EncodePng"/>), base64.</summary>
    public static string PngBase64(torch.Tensor image) => Convert.ToBase64String(ImageIO.EncodePng(image));

    /// <summary>0/255 gray PNG of a bool mask [H, W], base64.</summary>
    public static string MaskPngBase64(torch.Tensor mask)
    {
        using var scope = torch.NewDisposeScope();
        return PngBase64(mask.to(torch.ScalarType.Byte).mul(255).unsqueeze(0).cpu());
    }
}
