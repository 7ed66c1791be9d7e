namespace Tessera.Segmentation.Data;

/// <summary>An image file and its label file.</summary>
/// <param name="Image">Path of the image (JPEG or PNG).</param>
/// <param name="Label">Path of the label PNG (class indices, 255 ignored).</param>
public sealed record SegmentationItem(string Image, string Label);

/// <summary>
/// A split of a semantic-segmentation dataset: a list of image/label file pairs, the class names and
/// colours, and decoding to tensors. Labels are class indices 0 … <see cref="NumClasses"/> − 1, and
/// 255 (<see cref="SegmentationSample.IgnoreIndex"/>) for pixels that count neither in the loss nor in the metrics.
/// </summary>
public interface ISegmentationDataset
{
    /// <summary>The layout's name (custom, voc, cityscapes, ade20k).</summary>
    DatasetLayout Layout { get; }

    /// <summary>The split (train, val, …).</summary>
    string Split { get; }

    /// <summary>Number of image/label pairs.</summary>
    int Count { get; }

    /// <summary>The files of pair <paramref name="index"/>.</summary>
    SegmentationItem this[int index] { get; }

    /// <summary>Class names, label order.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of classes.</summary>
    int NumClasses => ClassNames.Count;

    /// <summary>An RGB colour per class, label order.</summary>
    IReadOnlyList<byte[]> Palette { get; }

    /// <summary>Whether stored label 0 means "other" and is read as 255, every other label shifted down by one (mmsegmentation's reduce_zero_label).</summary>
    bool ReduceZeroLabel { get; }

    /// <summary>Decodes pair <paramref name="index"/> (labels as the model sees them, after <see cref="ReduceZeroLabel"/>).</summary>
    /// <exception cref="TesseraFormatException">A file cannot be decoded, or image and label differ in size.</exception>
    SegmentationSample Load(int index);

    /// <summary>The image of pair <paramref name="index"/> as uint8 [3, H, W].</summary>
    torch.Tensor LoadImage(int index)
    {
        return Load(index).ImageTensor();
    }

    /// <summary>The label map of pair <paramref name="index"/> as uint8 [H, W].</summary>
    torch.Tensor LoadLabel(int index)
    {
        return Load(index).LabelTensor();
    }
}
