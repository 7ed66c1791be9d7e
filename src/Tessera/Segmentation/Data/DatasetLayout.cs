namespace Tessera.Segmentation.Data;

/// <summary>The dataset layouts <see cref="SegmentationDatasets"/> reads; the name (<see cref="EnumNames"/>) is what options and checkpoints store.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DatasetLayout>))]
public enum DatasetLayout
{
    /// <summary>mmsegmentation's custom layout: <c>img_dir/{split}</c> and <c>ann_dir/{split}</c>.</summary>
    [JsonStringEnumMemberName("custom")] Custom,
    /// <summary>Pascal VOC 2012 (<c>VOCdevkit/VOC2012</c>).</summary>
    [JsonStringEnumMemberName("voc")] Voc,
    /// <summary>Cityscapes (<c>leftImg8bit</c> and <c>gtFine</c> trainId maps).</summary>
    [JsonStringEnumMemberName("cityscapes")] Cityscapes,
    /// <summary>ADE20K (<c>ADEChallengeData2016</c>).</summary>
    [JsonStringEnumMemberName("ade20k")] Ade20k,
}
