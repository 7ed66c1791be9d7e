using SkiaSharp;
using Tessera.Imaging.Skia;
using static TorchSharp.torch;

namespace Tessera.Tests;

/// <summary>
/// Tessera's managed PNG reader and writer against SkiaSharp (what decoded PNG before) and Pillow (tests/fixtures/png:
/// every colour type, bit depth, filter type, tRNS case and Adam7), and the codec seam for JPEG.
/// </summary>
public class PngCodecTests
{
    private static readonly string Folder = Fixtures.Dir("png");

    /// <summary>SkiaSharp's decode as ImageIO did it before the managed reader: RGBA8888, alpha not premultiplied.</summary>
    private static byte[] SkiaDecode(byte[] file)
    {
        using var data = SKData.CreateCopy(file);
        using var codec = SKCodec.Create(data);
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, out byte[] pixels));
        return pixels;
    }

    [Fact]
    public void Every_fixture_png_decodes_as_skia_and_pillow_decode_it()
    {
        string[] files = Directory.GetFiles(Folder, "*.png").Order(StringComparer.Ordinal).ToArray();
        Assert.True(files.Length >= 30, $"{files.Length} PNGs in {Folder}");
        var wrong = new List<string>();
        foreach (string path in files)
        {
            byte[] file = File.ReadAllBytes(path);
            RgbaImage managed = ImageIO.Decode(file, path, codec: null); // PNG never needs a codec
            string name = Path.GetFileName(path);
            if (!SkiaDecode(file).AsSpan().SequenceEqual(managed.Pixels)) wrong.Add(name + " (SkiaSharp)");
            string pillow = Path.ChangeExtension(path, ".rgba");
            if (File.Exists(pillow) && !File.ReadAllBytes(pillow).AsSpan().SequenceEqual(managed.Pixels)) wrong.Add(name + " (Pillow)");
            var (w, h) = ImageIO.ReadSize(new MemoryStream(file), name, codec: null);
            if (w != managed.Width || h != managed.Height) wrong.Add(name + " (header size)");
        }
        Assert.True(wrong.Count == 0, "differ: " + string.Join(", ", wrong));
        Assert.True(files.Count(f => File.Exists(Path.ChangeExtension(f, ".rgba"))) >= 20); // Pillow's decode beside most of them
    }

    [Fact]
    public void Palette_pngs_give_colours_to_ImageIO_and_indices_to_LabelPng()
    {
        byte[] file = File.ReadAllBytes(Path.Combine(Folder, "palette8_trns.png"));
        RgbaImage colours = ImageIO.Decode(file, "palette8_trns.png");
        LabelMap indices = LabelPng.Decode(file, "palette8_trns.png");
        byte[] plte = [.. ReadChunk(file, "PLTE")];
        for (int i = 0; i < indices.Labels.Length; i++)
        {
            int k = indices.Labels[i];
            Assert.True(k < 20);
            Assert.Equal(plte.AsSpan(3 * k, 3).ToArray(), colours.Pixels.AsSpan(4 * i, 3).ToArray());
        }
        // An interlaced palette PNG reads as indices too (Adam7 is undone before the indices are taken).
        LabelMap adam7 = LabelPng.Read(Path.Combine(Folder, "palette4_adam7.png"));
        Assert.Equal((11, 9), (adam7.Width, adam7.Height));
        Assert.True(adam7.Labels.All(v => v < 16));
    }

    private static byte[] ReadChunk(byte[] png, string type)
    {
        int pos = 8;
        while (pos + 8 <= png.Length)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            if (System.Text.Encoding.ASCII.GetString(png, pos + 4, 4) == type) return png.AsSpan(pos + 8, length).ToArray();
            pos += 12 + length;
        }
        throw new Xunit.Sdk.XunitException($"no {type} chunk");
    }

    [Fact]
    public void Written_pngs_decode_in_skia_to_the_same_pixels()
    {
        // Gradients and noise, so the adaptive filter choice varies between rows.
        using var g = new Generator(7);
        using var noise = randint(0, 256, [3, 37, 53], dtype: ScalarType.Byte, generator: g);
        using var ramp = arange(0, 37 * 53, dtype: ScalarType.Int32).remainder(256).to(ScalarType.Byte).reshape(1, 37, 53).expand(3, 37, 53);
        using var rgb = where(arange(37).reshape(1, 37, 1).remainder(3).eq(0).expand(3, 37, 53), noise, ramp).contiguous();
        foreach (var (image, c) in new[] { (rgb, 3), (rgb[1..2].contiguous(), 1) })
        {
            byte[] png = ImageIO.EncodePng(image);
            byte[] skia = SkiaDecode(png);
            byte[] planes = image.bytes.ToArray();
            for (int i = 0; i < 37 * 53; i++)
                for (int k = 0; k < 3; k++)
                    Assert.Equal(planes[(c == 1 ? 0 : k) * 37 * 53 + i], skia[4 * i + k]);
            using var back = ImageIO.Load(WriteTemp(png), c == 1 ? ColorMode.Gray : ColorMode.Rgb);
            Assert.True(Same.Tensors(image, back));
        }
    }

    private static string WriteTemp(byte[] bytes)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("tessera-png-").FullName, "x.png");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Jpeg_without_a_codec_names_the_file_and_the_package_and_with_one_decodes_as_skia()
    {
        using var dir = new TempDir();
        using var img = arange(0, 3 * 16 * 24, dtype: ScalarType.Int32).remainder(251).to(ScalarType.Byte).reshape(3, 16, 24);
        ImageIO.SaveJpeg(img, dir.File("photo.jpg"), 90);
        byte[] jpeg = File.ReadAllBytes(dir.File("photo.jpg"));

        var e = Assert.Throws<TesseraFormatException>(() => ImageIO.Decode(jpeg, dir.File("photo.jpg"), codec: null));
        Assert.Contains("photo.jpg", e.Message);
        Assert.Contains("JPEG", e.Message);
        Assert.Contains("Tessera.Imaging.Skia", e.Message);
        Assert.Contains("Tessera.Imaging.Skia", Assert.Throws<TesseraFormatException>(() => ImageIO.ReadSize(new MemoryStream(jpeg), "photo.jpg", codec: null)).Message);
        Assert.Contains("not a decodable image", Assert.Throws<TesseraFormatException>(() => ImageIO.Decode("hello"u8, "notes.txt", codec: null)).Message);

        // With the application's codec (set for this test assembly at startup): the pixels SkiaSharp gave before.
        Assert.IsType<SkiaImageCodec>(ImageIO.Codec);
        Assert.Equal(SkiaDecode(jpeg), ImageIO.Decode(dir.File("photo.jpg")).Pixels);
        Assert.Equal((24, 16), ImageIO.ReadSize(dir.File("photo.jpg")));
    }

    [Fact]
    public void Damaged_pngs_are_format_errors_naming_the_file()
    {
        byte[] good = File.ReadAllBytes(Path.Combine(Folder, "rgb8_filter4.png"));
        byte[] crc = (byte[])good.Clone();
        crc[20] ^= 1; // a bit of IHDR's width, under its CRC
        Assert.Contains("CRC", Assert.Throws<TesseraFormatException>(() => ImageIO.Decode(crc, "bad.png")).Message);
        Assert.Contains("bad.png", Assert.Throws<TesseraFormatException>(() => ImageIO.Decode(good.AsSpan(0, good.Length - 30), "bad.png")).Message);
    }
}
