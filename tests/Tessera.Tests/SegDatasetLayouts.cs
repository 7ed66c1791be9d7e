using Tessera.Data;

namespace Tessera.Tests;

/// <summary>Tiny datasets of each layout written from Fashion-MNIST scenes (64×64, labels 0–10, a 255 band on every boundary).</summary>
internal static class SegDatasetLayouts
{
    private static readonly Lazy<FashionMnist> Source = new(() => FashionMnist.Load(Split.Test));

    /// <summary>Scenes first … first + count − 1: RGB uint8 [3, 64, 64] and labels (0–10, 255) as bytes.</summary>
    public static List<(torch.Tensor Image, byte[] Label)> Scenes(int first, int count)
    {
        var scenes = new FashionMnistScenes(Source.Value, new SceneOptions(Canvas: 64, IgnoreBand: true, Seed: 7));
        using var batch = scenes.Generate(first, count);
        var result = new List<(torch.Tensor, byte[])>();
        for (int i = 0; i < count; i++)
        {
            var img = batch.Images[i].mul(255).round().clamp(0, 255).to(torch.ScalarType.Byte);
            using var lab = batch.Labels[i].to(torch.ScalarType.Byte).contiguous();
            result.Add((img, lab.bytes.ToArray()));
        }
        return result;
    }

    /// <summary>VOCdevkit/VOC2012 with palette PNG labels (VOC's 256-colour palette): ids s0 … of train (3) and val (2).</summary>
    public static List<byte[]> WriteVoc(string root)
    {
        string voc = Path.Combine(root, "VOCdevkit", "VOC2012");
        foreach (string d in new[] { "JPEGImages", "SegmentationClass", "ImageSets/Segmentation" }) Directory.CreateDirectory(Path.Combine(voc, d));
        var scenes = Scenes(0, 5);
        var labels = new List<byte[]>();
        for (int i = 0; i < scenes.Count; i++)
        {
            var (img, lab) = scenes[i];
            // Scene classes 0–10 become VOC classes 0, 5, 7, … 15 (person) so both palettes' ends are used.
            byte[] voc21 = lab.Select(v => v == 255 ? (byte)255 : (byte)(v == 0 ? 0 : Math.Min(20, v + 5))).ToArray();
            ImageIO.SaveJpeg(img, Path.Combine(voc, "JPEGImages", $"2007_{i:000000}.jpg"));
            PalettePng.Write(Path.Combine(voc, "SegmentationClass", $"2007_{i:000000}.png"), voc21, 64, 64, VocDataset.FilePalette);
            labels.Add(voc21);
        }
        File.WriteAllLines(Path.Combine(voc, "ImageSets/Segmentation/train.txt"), ["2007_000000", "2007_000001", "2007_000002"]);
        File.WriteAllLines(Path.Combine(voc, "ImageSets/Segmentation/val.txt"), ["2007_000003", "2007_000004"]);
        return labels;
    }

    /// <summary>The label ids scene classes 0–10 are written as in the Cityscapes layout.</summary>
    public static readonly byte[] CityscapesIds = [7, 26, 24, 11, 21, 23, 0, 33, 9, 17, 1];

    /// <summary>leftImg8bit/gtFine with labelIds maps only (to be converted): train/aachen (2), val/frankfurt (1).</summary>
    public static List<byte[]> WriteCityscapes(string root)
    {
        var scenes = Scenes(10, 3);
        var ids = new List<byte[]>();
        for (int i = 0; i < 3; i++)
        {
            string split = i < 2 ? "train" : "val", city = i < 2 ? "aachen" : "frankfurt";
            string name = $"{city}_000000_{i:000000}";
            Directory.CreateDirectory(Path.Combine(root, "leftImg8bit", split, city));
            Directory.CreateDirectory(Path.Combine(root, "gtFine", split, city));
            var (img, lab) = scenes[i];
            ImageIO.SavePng(img, Path.Combine(root, "leftImg8bit", split, city, name + "_leftImg8bit.png"));
            byte[] labelIds = lab.Select(v => v == 255 ? (byte)0 : CityscapesIds[v]).ToArray();
            PalettePng.Write(Path.Combine(root, "gtFine", split, city, name + "_gtFine_labelIds.png"), labelIds, 64, 64);
            ids.Add(labelIds);
        }
        return ids;
    }

    /// <summary>ADEChallengeData2016 with stored labels 0 (other) … 150: training (2), validation (1).</summary>
    public static List<byte[]> WriteAde(string root)
    {
        string ade = Path.Combine(root, "ADEChallengeData2016");
        var scenes = Scenes(20, 3);
        var stored = new List<byte[]>();
        for (int i = 0; i < 3; i++)
        {
            string split = i < 2 ? "training" : "validation";
            Directory.CreateDirectory(Path.Combine(ade, "images", split));
            Directory.CreateDirectory(Path.Combine(ade, "annotations", split));
            var (img, lab) = scenes[i];
            // Scene background → 0 ("other"), the band → 150 (the last class), class k → 10·k.
            byte[] s = lab.Select(v => v == 255 ? (byte)150 : (byte)(10 * v)).ToArray();
            ImageIO.SaveJpeg(img, Path.Combine(ade, "images", split, $"ADE_{split[..5]}_{i:00000000}.jpg"));
            PalettePng.Write(Path.Combine(ade, "annotations", split, $"ADE_{split[..5]}_{i:00000000}.png"), s, 64, 64);
            stored.Add(s);
        }
        return stored;
    }

    /// <summary>img_dir/ann_dir with gray label PNGs, classes.txt (11 names) and palette.txt: train (3), val (1).</summary>
    public static List<byte[]> WriteCustom(string root, string imageSuffix = ".jpg", string labelSuffix = ".png")
    {
        var scenes = Scenes(30, 4);
        var labels = new List<byte[]>();
        for (int i = 0; i < 4; i++)
        {
            string split = i < 3 ? "train" : "val";
            Directory.CreateDirectory(Path.Combine(root, "img_dir", split));
            Directory.CreateDirectory(Path.Combine(root, "ann_dir", split));
            var (img, lab) = scenes[i];
            string image = Path.Combine(root, "img_dir", split, $"s{i}{imageSuffix}");
            if (imageSuffix.EndsWith(".png", StringComparison.Ordinal)) ImageIO.SavePng(img, image);
            else ImageIO.SaveJpeg(img, image);
            PalettePng.Write(Path.Combine(root, "ann_dir", split, $"s{i}{labelSuffix}"), lab, 64, 64);
            labels.Add(lab);
        }
        File.WriteAllLines(Path.Combine(root, "classes.txt"), FashionMnistScenes.ClassNames);
        File.WriteAllLines(Path.Combine(root, "palette.txt"), FashionMnistScenes.Palette.Select(c => $"{c[0]} {c[1]} {c[2]}"));
        return labels;
    }
}
