namespace Tessera.Segmentation.Training;

/// <summary>Per-pixel classification losses for segmentation, all ignoring label 255.</summary>
public static class SegmentationLosses
{
    /// <summary>The label that is never scored.</summary>
    public const long IgnoreIndex = 255;

    /// <summary>Mean cross-entropy over non-ignored pixels; logits [B, C, H, W], target [B, H, W].</summary>
    public static torch.Tensor CrossEntropy(torch.Tensor logits, torch.Tensor target) =>
        torch.nn.functional.cross_entropy(logits, target, ignore_index: IgnoreIndex);

    /// <summary>
    /// Focal loss (Lin et al. 2017, eq. 5): −(1 − p_t)^γ·log p_t averaged over non-ignored pixels.
    /// </summary>
    public static torch.Tensor Focal(torch.Tensor logits, torch.Tensor target, double gamma = 2)
    {
        using var scope = torch.NewDisposeScope();
        var valid = target.ne(IgnoreIndex);
        var safe = target.masked_fill(valid.logical_not(), 0);
        var logp = torch.nn.functional.log_softmax(logits, 1).gather(1, safe.unsqueeze(1)).squeeze(1);
        var loss = -(1 - logp.exp()).pow(gamma) * logp;
        var count = valid.sum().clamp_min(1);
        return ((loss * valid).sum() / count).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Soft multi-class Dice loss (Milletari et al. 2016): 1 − mean over classes present in the batch of
    /// 2Σ p·y / (Σ p + Σ y), over non-ignored pixels.
    /// </summary>
    public static torch.Tensor Dice(torch.Tensor logits, torch.Tensor target, double eps = 1)
    {
        using var scope = torch.NewDisposeScope();
        long c = logits.shape[1];
        var valid = target.ne(IgnoreIndex).unsqueeze(1);
        var probs = torch.softmax(logits, 1) * valid;
        var onehot = torch.nn.functional.one_hot(target.masked_fill(valid.squeeze(1).logical_not(), 0), c).permute(0, 3, 1, 2).to(probs.dtype) * valid;
        var inter = (probs * onehot).sum([0, 2, 3]);
        var denom = probs.sum([0, 2, 3]) + onehot.sum([0, 2, 3]);
        var dice = (2 * inter + eps) / (denom + eps);
        return (1 - dice.mean()).MoveToOuterDisposeScope();
    }

    /// <summary>The loss named by <paramref name="spec"/>: ce, dice, focal, or a sum such as ce+dice.</summary>
    /// <exception cref="TesseraUserException">An unknown term.</exception>
    public static torch.Tensor Named(string spec, torch.Tensor logits, torch.Tensor target)
    {
        Validate(spec, "loss");
        torch.Tensor? total = null;
        foreach (string term in spec.Split('+', StringSplitOptions.TrimEntries))
        {
            var l = term switch
            {
                "ce" => CrossEntropy(logits, target),
                "dice" => Dice(logits, target),
                _ => Focal(logits, target),
            };
            total = total is null ? l : total + l;
        }
        return total!;
    }

    /// <summary>
    /// The named loss of the model's logits, plus <see cref="Models.WithAuxiliaryHead.LossWeight"/> times the same loss
    /// of the auxiliary head's logits when the model has one (mmsegmentation's decode + auxiliary losses).
    /// </summary>
    public static torch.Tensor WithAuxiliary(string spec, torch.nn.Module<torch.Tensor, torch.Tensor> model, torch.Tensor images, torch.Tensor target)
    {
        if (model is not Models.WithAuxiliaryHead aux) return Named(spec, model.forward(images), target);
        var (main, auxiliary) = aux.ForwardBoth(images);
        return Named(spec, main, target) + Models.WithAuxiliaryHead.LossWeight * Named(spec, auxiliary, target);
    }

    /// <summary>The loss terms a spec may sum.</summary>
    public static IReadOnlyList<string> Terms { get; } = ["ce", "dice", "focal"];

    /// <summary>Whether <paramref name="spec"/> is a loss spec (ce, dice, focal, or a sum such as ce+dice).</summary>
    public static bool IsValid(string? spec) => spec is not null && spec.Split('+', StringSplitOptions.TrimEntries).All(Terms.Contains);

    /// <summary>Checks a loss spec without computing it: the one check of every caller.</summary>
    /// <exception cref="TesseraUserException">Not a loss spec; names <paramref name="parameter"/>.</exception>
    public static void Validate(string? spec, string parameter)
    {
        if (!IsValid(spec)) throw new TesseraUserException(parameter, $"'{spec}'; expected {string.Join(", ", Terms)} or a sum such as ce+dice");
    }
}
