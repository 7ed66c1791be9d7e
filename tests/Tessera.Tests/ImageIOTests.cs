using System.Buffers.Binary;
using Tessera.Data;
using static TorchSharp.torch;

namespace Tessera.Tests;

public class ImageIOTests
{
    /// <summary>Reads the IHDR chunk straight from the PNG bytes (PNG spec §11.2.2): width, height, bit depth, colour type.</summary>
    private static (int W, int H, int Depth, int ColorType) Ihdr(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        return ((int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(16)), (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(20)), png[24], png[25]);
    }

    [Fact]
    public void Jpeg_is_a_jfif_file_that_decodes_close_to_its_pixels()
    {
        using var dir = new TempDir();
        // Flat 8×8 blocks of one colour each: JPEG keeps them within a few levels.
        using var img = tensor(new byte[] { 200, 30, 90 }).view(3, 1, 1).expand(3, 24, 40).contiguous();
        ImageIO.SaveJpeg(img, dir.File("c.jpg"), 95);
        byte[] bytes = File.ReadAllBytes(dir.File("c.jpg"));
        Assert.Equal(new byte[] { 0xFF, 0xD8, 0xFF }, bytes[..3]); // SOI marker
        using var back = ImageIO.Load(dir.File("c.jpg"), ColorMode.Rgb);
        Assert.Equal(new long[] { 3, 24, 40 }, back.shape);
        Assert.True((back.to(ScalarType.Int32) - img.to(ScalarType.Int32)).abs().max().item<int>() <= 4);
    }

    [Fact]
    public void Gray_png_round_trips_exactly_and_is_a_grayscale_png()
    {
        using var dir = new TempDir();
        using var img = arange(0, 256 * 3, 3, dtype: ScalarType.Int32).remainder(256).to(ScalarType.Byte).reshape(1, 16, 16);
        ImageIO.SavePng(img, dir.File("g.png"));
        var (w, h, depth, color) = Ihdr(File.ReadAllBytes(dir.File("g.png")));
        Assert.Equal((16, 16, 8, 0), (w, h, depth, color)); // colour type 0 = grayscale
        using var back = ImageIO.Load(dir.File("g.png"), ColorMode.Gray);
        Assert.True(Same.Tensors(img, back));
    }

    [Fact]
    public void Rgb_png_round_trips_exactly_and_float_input_is_scaled()
    {
        using var dir = new TempDir();
        manual_seed(3);
        using var img = randint(0, 256, [3, 5, 7]).to(ScalarType.Byte);
        ImageIO.SavePng(img, dir.File("c.png"));
        Assert.Equal(7, Ihdr(File.ReadAllBytes(dir.File("c.png"))).W);
        using var back = ImageIO.Load(dir.File("c.png"), ColorMode.Rgb);
        Assert.True(Same.Tensors(img, back));

        using var f = tensor(new float[] { 0f, 0.5f, 1f, 2f }).reshape(1, 2, 2);
        ImageIO.SavePng(f, dir.File("f.png"));
        using var fb = ImageIO.Load(dir.File("f.png"), ColorMode.Gray);
        Assert.Equal(new byte[] { 0, 128, 255, 255 }, fb.data<byte>().ToArray());
    }

    [Fact]
    public void Gray_conversion_uses_itu_601_luma()
    {
        using var dir = new TempDir();
        using var img = tensor(new byte[] { 255, 0, 0, 255, 0, 0 }).reshape(3, 1, 2); // red, green
        ImageIO.SavePng(img, dir.File("rg.png"));
        using var g = ImageIO.Load(dir.File("rg.png"), ColorMode.Gray);
        Assert.Equal(new byte[] { 255 * 299 / 1000, 255 * 587 / 1000 }, g.data<byte>().ToArray());
    }

    [Fact]
    public void Grid_places_tiles_with_padding_like_make_grid()
    {
        using var batch = stack([full(1, 2, 2, 1.0f), full(1, 2, 2, 2.0f), full(1, 2, 2, 3.0f)]);
        using var grid = ImageIO.MakeGrid(batch, columns: 2, padding: 1, padValue: 9);
        // 2 columns × (2 + 1) + 1 = 7 wide; 2 rows × 3 + 1 = 7 high.
        Assert.Equal(new long[] { 1, 7, 7 }, grid.shape);
        Assert.Equal(9f, grid[0, 0, 0].item<float>());
        Assert.Equal(1f, grid[0, 1, 1].item<float>());
        Assert.Equal(2f, grid[0, 1, 4].item<float>());
        Assert.Equal(3f, grid[0, 4, 1].item<float>());
        Assert.Equal(9f, grid[0, 4, 4].item<float>()); // empty slot keeps the pad value
    }

    [Fact]
    public void Image_folder_resizes_to_square_and_labels_by_subfolder()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("cats"));
        Directory.CreateDirectory(dir.File("dogs"));
        using (var a = full(3, 8, 12, 200, dtype: ScalarType.Byte)) ImageIO.SavePng(a, Path.Combine(dir.File("cats"), "a.png"));
        using (var b = full(1, 20, 10, 50, dtype: ScalarType.Byte)) ImageIO.SavePng(b, Path.Combine(dir.File("dogs"), "b.png"));
        var folder = new ImageFolder(dir.Path, new ImageFolderOptions(6, ColorMode.Gray));
        Assert.Equal(new[] { "cats", "dogs" }, folder.Classes);
        var (images, labels) = folder.LoadAll();
        using (images)
        using (labels)
        {
            Assert.Equal(new long[] { 2, 1, 6, 6 }, images.shape);
            Assert.Equal(new long[] { 0, 1 }, labels.data<long>().ToArray());
            Assert.Equal(200 / 255f, images[0].mean().item<float>(), 3);
            Assert.Equal(50 / 255f, images[1].mean().item<float>(), 3);
        }
        var exact = new ImageFolder(dir.Path, new ImageFolderOptions(6, ColorMode.Rgb, FitMode.Exact));
        Assert.Contains("expected 6x6", Assert.Throws<TesseraFormatException>(() => exact.Get(0)).Message);
    }

    [Fact]
    public void Image_folder_resizes_as_pillow_bilinear_then_crops_the_centre()
    {
        // tests/fixtures/png/pillow_rgb.fit8.rgb: Pillow's resize((11, 8), BILINEAR) of the 23x17 image, cropped at x = 1.
        using var dir = new TempDir();
        File.Copy(Path.Combine(Fixtures.Dir("png"), "pillow_rgb.png"), dir.File("a.png"));
        var folder = new ImageFolder(dir.Path, new ImageFolderOptions(8));
        using var image = folder.Get(0);
        using var bytes = image.mul(255).round().to(ScalarType.Byte).permute(1, 2, 0).contiguous();
        Assert.Equal(File.ReadAllBytes(Path.Combine(Fixtures.Dir("png"), "pillow_rgb.fit8.rgb")), bytes.bytes.ToArray());
    }

    [Fact]
    public void Non_images_in_a_folder_are_named()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("notes.txt"), "hello");
        Assert.Contains("notes.txt", Assert.Throws<TesseraFormatException>(() => new ImageFolder(dir.Path, new ImageFolderOptions(4))).Message);
        File.Delete(dir.File("notes.txt"));
        File.WriteAllText(dir.File("fake.png"), "not a png");
        var folder = new ImageFolder(dir.Path, new ImageFolderOptions(4));
        Assert.Contains("fake.png", Assert.Throws<TesseraFormatException>(() => folder.Get(0)).Message);
        File.Delete(dir.File("fake.png"));
        Assert.Throws<TesseraUserException>(() => new ImageFolder(dir.Path, new ImageFolderOptions(4)));
    }
}
