using Tessera.Segmentation.Sam.Inference;

namespace Tessera.Segmentation.Sam.Data;

/// <summary>
/// An annotation as a file gives it, before rasterisation: polygon parts (rasterised and merged as pycocotools'
/// <c>frPyObjects</c> and <c>merge</c> do, <see cref="CocoInstances.Rasterise"/>) or an RLE as it stands.
/// </summary>
internal sealed record AnnotatedObject(long Id, int CategoryId, bool IsCrowd, IReadOnlyList<double[]>? Parts, MaskRle? Rle);

/// <summary>
/// An image of a COCO or labelme file with its annotations as read (checked when the file is opened); the masks are
/// rasterised when the image is asked for.
/// </summary>
internal sealed record AnnotatedImage(long Id, string Path, int Height, int Width, List<AnnotatedObject> Objects)
{
    /// <summary>The image with every annotation as a mask at its size.</summary>
    public InstanceImage Rasterise() =>
        new(Id, Path, Height, Width, [.. Objects.Select(o => new InstanceObject(o.Id, o.CategoryId, o.IsCrowd, o.Rle ?? CocoInstances.Rasterise(o.Parts!, Height, Width)))]);
}
