using SkiaSharp;

namespace Tessera.Tests;

public class SegDatasetTests
{
    [Fact]
    public void Palette_png_stores_indices_that_an_independent_decoder_shows_as_the_palette_colours()
    {
        using var dir = new TempDir();
        string path = dir.File("p.png");
        byte[] labels = [0, 1, 15, 255, 20, 0];
        PalettePng.Write(path, labels, 3, 2, VocDataset.FilePalette);
        // Tessera's reader gives indices, not colours.
        LabelMap map = LabelPng.Read(path);
        Assert.Equal(labels, map.Labels);
        // SkiaSharp's decoder (not Tessera's) gives the colours of VOC's palette: 1 → (128, 0, 0),
        // 15 (person) → (192, 128, 128), 255 (border) → (224, 224, 192), 20 (tvmonitor) → (0, 64, 128).
        using var bmp = SKBitmap.Decode(path);
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(0, 0));
        Assert.Equal(new SKColor(128, 0, 0), bmp.GetPixel(1, 0));
        Assert.Equal(new SKColor(192, 128, 128), bmp.GetPixel(2, 0));
        Assert.Equal(new SKColor(224, 224, 192), bmp.GetPixel(0, 1));
        Assert.Equal(new SKColor(0, 64, 128), bmp.GetPixel(1, 1));
        // Grayscale: the stored gray values are the labels.
        PalettePng.Write(dir.File("g.png"), labels, 3, 2);
        Assert.Equal(labels, LabelPng.Read(dir.File("g.png")).Labels);
        using var gray = SKBitmap.Decode(dir.File("g.png"));
        Assert.Equal(new SKColor(15, 15, 15), gray.GetPixel(2, 0));
    }

    [Fact]
    public void Voc_reads_palette_indices_with_names_palette_and_splits()
    {
        using var dir = new TempDir();
        var written = SegDatasetLayouts.WriteVoc(dir.Path);
        Assert.Equal("voc", EnumNames.Name(SegmentationDatasets.Detect(dir.Path)));
        var train = SegmentationDatasets.Open(null, dir.Path, "train");
        var val = SegmentationDatasets.Open(DatasetLayout.Voc, Path.Combine(dir.Path, "VOCdevkit"), "val");
        var both = VocDataset.Open(dir.Path, "train+val");
        Assert.Equal((3, 2, 5), (train.Count, val.Count, both.Count));
        Assert.Equal(21, train.NumClasses);
        Assert.Equal("person", train.ClassNames[15]);
        Assert.Equal("tvmonitor", train.ClassNames[20]);
        Assert.Equal(new byte[] { 192, 128, 128 }, train.Palette[15]);
        Assert.Equal(new byte[] { 128, 128, 0 }, train.Palette[3]);
        var s = val.Load(1);
        Assert.Equal((64, 64), (s.Width, s.Height));
        Assert.Equal(written[4], s.Label);
        Assert.Contains((byte)255, s.Label);
        Assert.DoesNotContain(s.Label, v => v is > 20 and < 255);
        Assert.EndsWith("2007_000004.jpg", val[1].Image);
        train.Validate();
        using var t = ((ISegmentationDataset)train).LoadImage(0);
        Assert.Equal(new long[] { 3, 64, 64 }, t.shape);
    }

    [Fact]
    public void Voc_names_a_listed_id_without_its_label()
    {
        using var dir = new TempDir();
        SegDatasetLayouts.WriteVoc(dir.Path);
        string label = Path.Combine(dir.Path, "VOCdevkit/VOC2012/SegmentationClass/2007_000001.png");
        File.Delete(label);
        var e = Assert.Throws<TesseraFormatException>(() => VocDataset.Open(dir.Path, "train"));
        Assert.Equal(label, e.Path);
    }

    [Fact]
    public void Validation_names_a_label_above_the_class_count_and_an_undecodable_image()
    {
        using var dir = new TempDir();
        SegDatasetLayouts.WriteVoc(dir.Path);
        string voc = Path.Combine(dir.Path, "VOCdevkit/VOC2012");
        var bad = new byte[64 * 64];
        bad[100] = 21; // VOC has classes 0–20
        bad[200] = 255; // the ignore index is allowed
        string label = Path.Combine(voc, "SegmentationClass/2007_000002.png");
        PalettePng.Write(label, bad, 64, 64, VocDataset.FilePalette);
        var e = Assert.Throws<TesseraFormatException>(() => VocDataset.Open(dir.Path, "train").Validate());
        Assert.Equal(label, e.Path);
        Assert.Contains("21", e.Message);
        VocDataset.Open(dir.Path, "val").Validate();

        string image = Path.Combine(voc, "JPEGImages/2007_000003.jpg");
        File.WriteAllText(image, "not a jpeg");
        var e2 = Assert.Throws<TesseraFormatException>(() => VocDataset.Open(dir.Path, "val").Validate());
        Assert.Equal(image, e2.Path);
    }

    [Fact]
    public void Cityscapes_label_table_maps_the_official_ids()
    {
        byte[] lut = CityscapesLabels.IdToTrainId;
        // cityscapesScripts helpers/labels.py: road 7 → 0, sidewalk 8 → 1, car 26 → 13, person 24 → 11,
        // bicycle 33 → 18, train 31 → 16, unlabeled 0 → 255, parking 9 → 255, polegroup 18 → 255, caravan 29 → 255.
        Assert.Equal(0, lut[7]);
        Assert.Equal(1, lut[8]);
        Assert.Equal(13, lut[26]);
        Assert.Equal(11, lut[24]);
        Assert.Equal(18, lut[33]);
        Assert.Equal(16, lut[31]);
        foreach (int id in new[] { 0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30, 34, 200, 255 }) Assert.Equal(255, lut[id]);
        Assert.Equal(19, Enumerable.Range(0, 256).Count(i => lut[i] != 255));
        Assert.Equal("car", CityscapesLabels.TrainClassNames[13]);
    }

    [Fact]
    public void Cityscapes_converts_label_ids_and_pairs_images_with_train_id_maps()
    {
        using var dir = new TempDir();
        var ids = SegDatasetLayouts.WriteCityscapes(dir.Path);
        Assert.Equal("cityscapes", EnumNames.Name(SegmentationDatasets.Detect(dir.Path)));
        var e = Assert.Throws<TesseraFormatException>(() => CityscapesDataset.Open(dir.Path, "train"));
        Assert.Contains("trainIds", e.Message);
        Assert.Equal(3, CityscapesLabels.ConvertFolder(Path.Combine(dir.Path, "gtFine")));
        var train = SegmentationDatasets.Open(DatasetLayout.Cityscapes, dir.Path, "train");
        var val = CityscapesDataset.Open(dir.Path, "val");
        Assert.Equal((2, 1, 19), (train.Count, val.Count, train.NumClasses));
        var s = train.Load(1);
        // Scene classes were written as ids 7, 26, 24, 11, 21, 23, 0, 33, 9, 17, 1: their trainIds by hand.
        byte[] expectedByClass = [0, 13, 11, 2, 8, 10, 255, 18, 255, 5, 255];
        var scene = SegDatasetLayouts.Scenes(11, 1)[0].Label;
        for (int i = 0; i < s.Label.Length; i++)
            Assert.Equal(scene[i] == 255 ? 255 : expectedByClass[scene[i]], s.Label[i]);
        Assert.Equal(ids[1].Select(v => CityscapesLabels.IdToTrainId[v]), s.Label);
        train.Validate();
    }

    [Fact]
    public void Ade20k_reduces_zero_label_by_default()
    {
        using var dir = new TempDir();
        var stored = SegDatasetLayouts.WriteAde(dir.Path);
        Assert.Equal("ade20k", EnumNames.Name(SegmentationDatasets.Detect(dir.Path)));
        var train = SegmentationDatasets.Open(DatasetLayout.Ade20k, dir.Path, "train");
        var val = Ade20kDataset.Open(Path.Combine(dir.Path, "ADEChallengeData2016"), "validation");
        Assert.Equal((2, 1, 150), (train.Count, val.Count, train.NumClasses));
        Assert.True(train.ReduceZeroLabel);
        Assert.Equal("wall", train.ClassNames[0]);
        Assert.Equal("flag", train.ClassNames[149]);
        var s = train.Load(0);
        for (int i = 0; i < s.Label.Length; i++)
        {
            // stored 0 ("other") → 255, stored 150 → 149, stored 10k → 10k − 1.
            byte expected = stored[0][i] == 0 ? (byte)255 : (byte)(stored[0][i] - 1);
            Assert.Equal(expected, s.Label[i]);
        }
        Assert.Contains((byte)149, s.Label);
        Assert.Contains((byte)255, s.Label);
        train.Validate();
        var raw = SegmentationDatasets.Open(DatasetLayout.Ade20k, dir.Path, "train", new DatasetOptions(ReduceZeroLabel: false));
        Assert.Equal(stored[0], raw.Load(0).Label);
        // Stored 151 is class 150 after the reduction: one too many.
        string ann = train[1].Label;
        var bad = (byte[])stored[1].Clone();
        bad[5] = 151;
        PalettePng.Write(ann, bad, 64, 64);
        Assert.Equal(ann, Assert.Throws<TesseraFormatException>(() => train.Validate()).Path);
    }

    [Fact]
    public void Custom_layout_reads_suffixes_classes_and_palette_and_names_orphans()
    {
        using var dir = new TempDir();
        var labels = SegDatasetLayouts.WriteCustom(dir.Path, "_leftImg.png", "_gt.png");
        Assert.Equal("custom", EnumNames.Name(SegmentationDatasets.Detect(dir.Path)));
        var options = new DatasetOptions(new CustomLayoutOptions(ImageSuffix: "_leftImg.png", LabelSuffix: "_gt.png"));
        var train = SegmentationDatasets.Open(DatasetLayout.Custom, dir.Path, "train", options);
        Assert.Equal(3, train.Count);
        Assert.Equal(FashionMnistScenes.ClassNames, train.ClassNames);
        Assert.Equal(new byte[] { 230, 25, 75 }, train.Palette[1]);
        Assert.Equal(labels[2], train.Load(2).Label);
        train.Validate();
        // A PNG image decodes exactly: the pixels are the scene's.
        using var img = ((ISegmentationDataset)train).LoadImage(0);
        Assert.True(Same.Tensors(SegDatasetLayouts.Scenes(30, 1)[0].Image, img));

        string orphan = Path.Combine(dir.Path, "ann_dir", "val", "extra_gt.png");
        PalettePng.Write(orphan, new byte[4], 2, 2);
        Assert.Equal(orphan, Assert.Throws<TesseraFormatException>(() => CustomDataset.Open(dir.Path, "val", options.Custom)).Path);
        string lonely = Path.Combine(dir.Path, "img_dir", "train", "s0_leftImg.png");
        File.Delete(Path.Combine(dir.Path, "ann_dir", "train", "s0_gt.png"));
        Assert.Equal(lonely, Assert.Throws<TesseraFormatException>(() => CustomDataset.Open(dir.Path, "train", options.Custom)).Path);
        File.WriteAllText(Path.Combine(dir.Path, "palette.txt"), "1 2 3\n4 5\n");
        Assert.Contains("line 2", Assert.Throws<TesseraFormatException>(() => CustomDataset.ReadPalette(Path.Combine(dir.Path, "palette.txt"))).Message);
    }

    [Fact]
    public void Detection_refuses_unknown_and_ambiguous_folders()
    {
        using var dir = new TempDir();
        Assert.Throws<TesseraUserException>(() => SegmentationDatasets.Detect(dir.Path));
        SegDatasetLayouts.WriteCustom(dir.Path);
        Directory.CreateDirectory(Path.Combine(dir.Path, "leftImg8bit"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "gtFine"));
        Assert.Contains("ambiguous", Assert.Throws<TesseraUserException>(() => SegmentationDatasets.Detect(dir.Path)).Message);
        // An unknown layout name is refused where names become layouts, naming the ones there are.
        Assert.Contains("custom, voc, cityscapes, ade20k", Assert.Throws<TesseraUserException>(() => EnumNames.Parse<DatasetLayout>("dataset", "pascal", "dataset layout")).Message);
    }

    [Fact]
    public void Reduce_zero_label_by_hand()
    {
        byte[] v = [0, 1, 2, 150, 254, 255];
        SegmentationDataset.ReduceZero(v);
        Assert.Equal(new byte[] { 255, 0, 1, 149, 253, 255 }, v);
    }
}
