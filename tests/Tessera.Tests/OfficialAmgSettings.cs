namespace Tessera.Tests;

/// <summary>The generator settings of an AMG fixture configuration, under the official keyword names.</summary>
internal static class OfficialAmgSettings
{
    /// <summary>
    /// <paramref name="defaults"/> with every keyword <paramref name="config"/> gives (the official
    /// <c>SamAutomaticMaskGenerator</c>/<c>SAM2AutomaticMaskGenerator</c> arguments) applied.
    /// </summary>
    public static AmgOptions Read(JsonElement config, AmgOptions defaults)
    {
        double D(string k, double d) => config.TryGetProperty(k, out var v) ? v.GetDouble() : d;
        int I(string k, int d) => config.TryGetProperty(k, out var v) ? v.GetInt32() : d;
        bool B(string k, bool d) => config.TryGetProperty(k, out var v) ? v.GetBoolean() : d;
        var o = defaults;
        return o with
        {
            PointsPerSide = I("points_per_side", o.PointsPerSide),
            PointsPerBatch = I("points_per_batch", o.PointsPerBatch),
            PredIouThreshold = D("pred_iou_thresh", o.PredIouThreshold),
            StabilityScoreThreshold = D("stability_score_thresh", o.StabilityScoreThreshold),
            BoxNmsThreshold = D("box_nms_thresh", o.BoxNmsThreshold),
            CropLayers = I("crop_n_layers", o.CropLayers),
            MinMaskRegionArea = I("min_mask_region_area", o.MinMaskRegionArea),
            MaskThreshold = D("mask_threshold", o.MaskThreshold),
            MultimaskOutput = B("multimask_output", o.MultimaskOutput),
            UseM2M = B("use_m2m", o.UseM2M),
        };
    }
}
