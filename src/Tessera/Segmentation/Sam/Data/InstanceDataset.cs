using Tessera.Segmentation.Sam.Inference;

namespace Tessera.Segmentation.Sam.Data;

/// <summary>An object category of an instance dataset.</summary>
/// <param name="Id">The category id as the annotations use it.</param>
/// <param name="Name">Its name.</param>
public sealed record InstanceCategory(int Id, string Name);

/// <summary>COCO's object sizes by mask area (cocoeval's areaRng): small below 32², medium below 96², large from 96².</summary>
public enum CocoAreaRange
{
    /// <summary>Area below 32² = 1,024 pixels.</summary>
    Small,
    /// <summary>Area from 32² to below 96² = 9,216 pixels.</summary>
    Medium,
    /// <summary>Area of 96² pixels or more.</summary>
    Large,
}

/// <summary>
/// One annotated object: its mask at the image's size as COCO RLE. Crowd regions (COCO's <c>iscrowd</c>, the
/// ignore value of an instance PNG) are never used as prompts and are left out of the loss.
/// </summary>
/// <param name="Id">The annotation id (COCO's, the shape index of labelme, the instance value of a PNG).</param>
/// <param name="CategoryId">Its category (0 where the source has none).</param>
/// <param name="IsCrowd">A crowd or ignore region rather than one object.</param>
/// <param name="Mask">The mask at the image's height and width.</param>
public sealed record InstanceObject(long Id, int CategoryId, bool IsCrowd, MaskRle Mask)
{
    /// <summary>Foreground pixels.</summary>
    public long Area => Mask.Area;

    /// <summary>Bounding box [x, y, w, h] as pycocotools' <c>toBbox</c>.</summary>
    public double[] Bbox => CocoMask.ToBbox(Mask);

    /// <summary>
    /// COCO's size class of <paramref name="area"/>. cocoeval's ranges are closed at both ends, so an area of
    /// exactly 32² or 96² counts in both neighbouring classes there; here it goes to the larger one.
    /// </summary>
    public static CocoAreaRange SizeOf(double area) => area < 32 * 32 ? CocoAreaRange.Small : area < 96 * 96 ? CocoAreaRange.Medium : CocoAreaRange.Large;

    /// <summary>This object's COCO size class (by mask area).</summary>
    public CocoAreaRange Size => SizeOf(Area);
}

/// <summary>An image with its objects.</summary>
/// <param name="Id">The image id (COCO's; the index in the listing otherwise).</param>
/// <param name="ImagePath">The image file.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Objects">Every annotation, crowd regions included.</param>
public sealed record InstanceImage(long Id, string ImagePath, int Height, int Width, IReadOnlyList<InstanceObject> Objects)
{
    /// <summary>Objects that may be prompted and trained on: not crowd, at least <paramref name="minArea"/> pixels.</summary>
    public IEnumerable<InstanceObject> Prompts(long minArea = 1) => Objects.Where(o => !o.IsCrowd && o.Area >= minArea && o.Area > 0);

    /// <summary>Pixels to leave out of the loss (row-major [H, W]): the union of the crowd regions; null where there are none.</summary>
    public bool[]? IgnoreMask()
    {
        var crowd = Objects.Where(o => o.IsCrowd).Select(o => o.Mask).ToList();
        return crowd.Count == 0 ? null : CocoMask.Merge(crowd).Decode();
    }

    /// <summary>Reads the image as RGB uint8 [3, H, W], checking that its size is the annotated one.</summary>
    /// <exception cref="TesseraFormatException">The image is unreadable or its size differs from the annotation's.</exception>
    public torch.Tensor LoadRgb()
    {
        var rgb = ImageIO.Load(ImagePath, ColorMode.Rgb);
        if (rgb.shape[1] != Height || rgb.shape[2] != Width)
        {
            string got = $"{rgb.shape[1]}×{rgb.shape[2]}";
            rgb.Dispose();
            throw new TesseraFormatException(ImagePath, $"image is {got} (height×width) but its annotations are for {Height}×{Width}");
        }
        return rgb;
    }
}

/// <summary>Where the annotations of an instance dataset come from.</summary>
public enum InstanceDatasetFormat
{
    /// <summary>COCO instances JSON in COCO 2017's layout: annotations/instances_{split}.json, images in {split}/.</summary>
    Coco,
    /// <summary>labelme JSON files (polygons and rectangles), one per image, <c>imagePath</c> relative to the JSON.</summary>
    Labelme,
    /// <summary>images/ plus instances/ PNGs of the same name (0 background, 1–254 objects, 255 ignore).</summary>
    Folder,
}

/// <summary>
/// A set of images annotated with instance masks, read from COCO, labelme or folder layouts. Annotations are
/// checked when the dataset is opened (a malformed one ends with <see cref="TesseraFormatException"/> naming
/// the file and annotation); masks are rasterised when an image is asked for.
/// </summary>
public abstract class InstanceDataset
{
    /// <summary>Sets what every layout has: where it was read from, and its categories.</summary>
    protected InstanceDataset(string source, IReadOnlyList<InstanceCategory> categories) => (Source, Categories) = (source, categories);

    /// <summary>The annotation file or folder, for messages.</summary>
    public string Source { get; }

    /// <summary>The categories (empty where the source has none).</summary>
    public IReadOnlyList<InstanceCategory> Categories { get; }

    /// <summary>Number of images.</summary>
    public abstract int Count { get; }

    /// <summary>The image at <paramref name="index"/> with its objects.</summary>
    public abstract InstanceImage this[int index] { get; }

    /// <summary>Opens a dataset; <paramref name="split"/> names COCO's split (e.g. train2017) and is ignored otherwise.</summary>
    public static InstanceDataset Open(InstanceDatasetFormat format, string root, string split = "train2017") => format switch
    {
        InstanceDatasetFormat.Coco => CocoInstances.Open(root, split),
        InstanceDatasetFormat.Labelme => LabelmeInstances.Open(root),
        InstanceDatasetFormat.Folder => FolderInstances.Open(root),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}
