using System.Text.Json.Nodes;
using Tessera.Segmentation.Sam.Data;

namespace Tessera.Tests;

/// <summary>
/// Instance datasets for SAM: COCO against tests/fixtures/coco (masks, areas, boxes, RLE strings and IoUs
/// from cocoapi's own C code), labelme and folder readers on hand-made files, malformed annotations.
/// </summary>
public sealed class SamDataTests
{
    private static string Dir => Fixtures.Dir("coco");

    private static CocoInstances Fixture() => CocoInstances.Load(Path.Combine(Dir, "instances.json"), Dir, requireImageFiles: false);

    private static bool[] FixtureMask(long id) => LabelPng.Read(Path.Combine(Dir, "masks", $"ann{id}.png")).Labels.Select(v => v == 255).ToArray();

    private static Dictionary<long, InstanceObject> AllObjects(InstanceDataset data) =>
        Enumerable.Range(0, data.Count).SelectMany(i => data[i].Objects).ToDictionary(o => o.Id);

    [Fact]
    public void Coco_masks_areas_boxes_and_rle_strings_equal_cocoapi()
    {
        var data = Fixture();
        Assert.Equal(4, data.Count);
        Assert.Equal(["alpha", "beta", "gamma"], data.Categories.Select(c => c.Name));
        var objects = AllObjects(data);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        int n = 0;
        foreach (var e in expected.RootElement.GetProperty("annotations").EnumerateArray())
        {
            long id = e.GetProperty("id").GetInt64();
            var o = objects[id];
            var want = FixtureMask(id);
            var got = o.Mask.Decode();
            Assert.Equal(want.Length, got.Length);
            int differing = Enumerable.Range(0, want.Length).Count(i => want[i] != got[i]);
            Assert.True(differing == 0, $"annotation {id}: {differing} pixels differ from cocoapi's mask");
            Assert.Equal(e.GetProperty("area").GetInt64(), o.Area);
            Assert.Equal(e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()), o.Bbox);
            var canonical = MaskRle.Encode(got, o.Mask.Height, o.Mask.Width);
            Assert.Equal(e.GetProperty("counts").GetString(), canonical.ToCocoString());
            Assert.Equal(e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()), CocoMask.ToBbox(canonical));
            Assert.Equal(e.GetProperty("mask_sum").GetInt64(), got.LongCount(v => v));
            n++;
        }
        Assert.Equal(28, n);
        // Crowd flags come from iscrowd: annotations 6, 7 of each image (RLE), never prompts.
        var first = data[0];
        Assert.Equal([6L, 7L], first.Objects.Where(o => o.IsCrowd).Select(o => o.Id));
        Assert.Equal([1L, 2L, 3L, 4L], first.Prompts().Select(o => o.Id)); // 5 is empty
        var ignore = first.IgnoreMask()!;
        Assert.Equal(Enumerable.Range(0, ignore.Length).Select(i => FixtureMask(6)[i] || FixtureMask(7)[i]), ignore);
    }

    [Fact]
    public void Size_classes_follow_coco_area_ranges()
    {
        Assert.Equal([CocoAreaRange.Small, CocoAreaRange.Medium, CocoAreaRange.Medium, CocoAreaRange.Large],
            new double[] { 1023, 1024, 9215, 9216 }.Select(InstanceObject.SizeOf));
    }

    [Fact]
    public void Coco_iou_with_and_without_crowd_equals_cocoapi()
    {
        var objects = AllObjects(Fixture());
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        var ids = expected.RootElement.GetProperty("ids_image1").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        foreach (var (key, crowd) in new[] { ("iou_image1", false), ("iou_image1_crowd", true) })
        {
            var m = expected.RootElement.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            for (int i = 0; i < ids.Length; i++)
                for (int j = 0; j < ids.Length; j++)
                {
                    var a = objects[ids[i]].Mask;
                    var b = objects[ids[j]].Mask;
                    // cocoapi was given canonical encodings of the decoded masks.
                    var ca = MaskRle.Encode(a.Decode(), a.Height, a.Width);
                    var cb = MaskRle.Encode(b.Decode(), b.Height, b.Width);
                    Assert.True(m[i][j] == CocoMask.Iou(ca, cb, crowd), $"{key}[{i}][{j}]: {CocoMask.Iou(ca, cb, crowd)} vs {m[i][j]}");
                }
        }
    }

    [Fact]
    public void Coco_layout_opens_and_malformed_annotations_name_file_and_id()
    {
        using var dir = new TempDir();
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "instances.json")))!;
        Directory.CreateDirectory(dir.File("annotations"));
        Directory.CreateDirectory(dir.File("val2017"));
        foreach (var im in doc["images"]!.AsArray())
            ImageIO.SavePng(torch.zeros(3, (long)im!["height"]!, (long)im["width"]!, torch.ScalarType.Byte), dir.File(Path.Combine("val2017", (string)im["file_name"]!)));
        string json = dir.File(Path.Combine("annotations", "instances_val2017.json"));
        File.WriteAllText(json, doc.ToJsonString());
        var data = InstanceDataset.Open(InstanceDatasetFormat.Coco, dir.Path, "val2017");
        Assert.Equal(4, data.Count);
        using (var rgb = data[1].LoadRgb()) Assert.Equal(new long[] { 3, 97, 131 }, rgb.shape);

        void Broken(Action<JsonNode> edit, string fragment)
        {
            var copy = JsonNode.Parse(doc.ToJsonString())!;
            edit(copy);
            File.WriteAllText(json, copy.ToJsonString());
            var e = Assert.Throws<TesseraFormatException>(() => InstanceDataset.Open(InstanceDatasetFormat.Coco, dir.Path, "val2017"));
            Assert.Equal(json, e.Path);
            Assert.Contains(fragment, e.Message);
        }
        Broken(d => d["annotations"]![2]!["segmentation"]![1] = new JsonArray(1.0, 2.0, 3.0, 4.0), "annotation 3: polygon part 1 has 2 points");
        Broken(d => d["annotations"]![5]!["segmentation"]!["counts"]!.AsArray().Add(7), "annotation 6: RLE counts sum to 19207");
        Broken(d => d["annotations"]![6]!["segmentation"]!["counts"] = "l11", "annotation 7: RLE counts sum to");
        Broken(d => d["annotations"]![0]!["image_id"] = 99, "annotation 1: image_id 99 is not among the images");
        Broken(d => d["images"]![3]!["file_name"] = "missing.jpg", "image 4: its file");
    }

    [Fact]
    public void Labelme_polygons_rectangles_and_groups_rasterise_as_coco_polygons()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("sub"));
        ImageIO.SavePng(torch.zeros(3, 120, 160, torch.ScalarType.Byte), dir.File("img1.png"));
        var fixture = JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "instances.json")))!;
        double[] Poly(int ann, int part) => fixture["annotations"]![ann - 1]!["segmentation"]![part]!.AsArray().Select(v => (double)v!).ToArray();
        JsonArray Points(double[] xy) => [.. xy.Chunk(2).Select(p => (JsonNode)new JsonArray(p[0], p[1]))];
        // Annotation 3 of the fixture is the square (2,2)–(8,8) plus a triangle: here a rectangle (corners given
        // in the other order) and a polygon joined by group_id.
        var shapes = new JsonArray
        {
            new JsonObject { ["label"] = "dog", ["points"] = Points(Poly(1, 0)), ["shape_type"] = "polygon", ["group_id"] = null },
            new JsonObject { ["label"] = "cat", ["points"] = Points([8, 8, 2, 2]), ["shape_type"] = "rectangle", ["group_id"] = 4 },
            new JsonObject { ["label"] = "cat", ["points"] = Points(Poly(3, 1)), ["shape_type"] = "polygon", ["group_id"] = 4 },
            new JsonObject { ["label"] = "__ignore__", ["points"] = Points(Poly(2, 0)), ["shape_type"] = "polygon" },
        };
        File.WriteAllText(dir.File("sub/a.json"), new JsonObject { ["shapes"] = shapes, ["imagePath"] = "../img1.png", ["imageHeight"] = 120, ["imageWidth"] = 160 }.ToJsonString());
        var data = LabelmeInstances.Open(dir.Path);
        Assert.Equal(["cat", "dog"], data.Categories.Select(c => c.Name));
        var image = data[0];
        Assert.Equal(Path.GetFullPath(dir.File("img1.png")), image.ImagePath);
        Assert.Equal(3, image.Objects.Count);
        Assert.Equal(FixtureMask(1), image.Objects[0].Mask.Decode());
        Assert.Equal(2, image.Objects[0].CategoryId);
        Assert.Equal(FixtureMask(3), image.Objects[1].Mask.Decode());
        Assert.True(image.Objects[2].IsCrowd);
        Assert.Equal(FixtureMask(2), image.IgnoreMask());

        shapes.Add(new JsonObject { ["label"] = "x", ["points"] = Points([1, 1, 5, 5]), ["shape_type"] = "polygon" });
        File.WriteAllText(dir.File("sub/a.json"), new JsonObject { ["shapes"] = JsonNode.Parse(shapes.ToJsonString()), ["imagePath"] = "../img1.png" }.ToJsonString());
        var e = Assert.Throws<TesseraFormatException>(() => LabelmeInstances.Open(dir.Path));
        Assert.Contains("shape 4 (x): polygon with 2 points", e.Message);
        File.WriteAllText(dir.File("sub/a.json"), new JsonObject { ["shapes"] = new JsonArray(), ["imagePath"] = "nothere.png" }.ToJsonString());
        Assert.Contains("imagePath nothere.png does not exist", Assert.Throws<TesseraFormatException>(() => LabelmeInstances.Open(dir.Path)).Message);
    }

    [Fact]
    public void Folder_reads_instance_pngs_with_ignore_and_majority_labels()
    {
        using var dir = new TempDir();
        foreach (string sub in new[] { "images", "instances", "labels" }) Directory.CreateDirectory(dir.File(sub));
        // 4 × 5 instance map: object 1 (3 pixels), object 3 (2 pixels), ignore (1 pixel).
        byte[] inst = [0, 1, 1, 0, 0, /**/ 0, 1, 0, 3, 3, /**/ 0, 0, 0, 0, 0, /**/ 255, 0, 0, 0, 0];
        byte[] lab = [0, 7, 7, 0, 0, /**/ 0, 2, 0, 5, 255, /**/ 0, 0, 0, 0, 0, /**/ 255, 0, 0, 0, 0];
        ImageIO.SavePng(torch.tensor(inst, [1, 4, 5]), dir.File("instances/s0.png"));
        ImageIO.SavePng(torch.tensor(lab, [1, 4, 5]), dir.File("labels/s0.png"));
        ImageIO.SavePng(torch.zeros(3, 4, 5, torch.ScalarType.Byte), dir.File("images/s0.png"));
        var data = InstanceDataset.Open(InstanceDatasetFormat.Folder, dir.Path);
        var image = data[0];
        Assert.Equal([1L, 3L, 255L], image.Objects.Select(o => o.Id));
        Assert.Equal([7, 5, 0], image.Objects.Select(o => o.CategoryId));
        Assert.Equal(inst.Select(v => v == 1), image.Objects[0].Mask.Decode());
        Assert.Equal(new double[] { 1, 0, 2, 2 }, image.Objects[0].Bbox);
        Assert.Equal([1L, 3L], image.Prompts().Select(o => o.Id));
        Assert.Equal(inst.Select(v => v == 255), image.IgnoreMask());

        ImageIO.SavePng(torch.zeros(1, 4, 5, torch.ScalarType.Byte), dir.File("instances/orphan.png"));
        Assert.Contains("instance map without an image", Assert.Throws<TesseraFormatException>(() => FolderInstances.Open(dir.Path)).Message);
    }

    [Fact]
    public void A_coordinate_of_2_to_the_62_is_refused_naming_the_file_instead_of_rasterised_for_ever()
    {
        // Found by fuzzing: cocoapi's edge walk over such a polygon never ends.
        using var dir = new TempDir();
        ImageIO.SavePng(torch.zeros(3, 5, 6, torch.ScalarType.Byte), dir.File("img.png"));
        File.WriteAllText(dir.File("img.json"), """
            {"imagePath": "img.png", "imageHeight": 5, "imageWidth": 6,
             "shapes": [{"label": "cat", "points": [[4611686018427387904, 0.5], [4.5, 0.5], [4.5, 3.5]], "shape_type": "polygon"}]}
            """);
        var e = Assert.Throws<TesseraFormatException>(() => { var d = InstanceDataset.Open(InstanceDatasetFormat.Labelme, dir.Path); _ = d[0].Objects[0].Area; });
        Assert.Contains("img.json", e.Message);
        Assert.Contains("1000000", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CocoMask.FromPolygon([0, 0, 4e18, 0, 1, 1], 5, 6));
    }
}
