namespace Tessera.Segmentation.Sam.Training;

/// <summary>SAM's training losses (Kirillov et al. 2023, App. A): focal and Dice on mask logits, MSE on predicted IoU.</summary>
public static class SamLosses
{
    /// <summary>
    /// Sigmoid focal loss (Lin et al. 2017, eq. 5) with α = 0.25, γ = 2, averaged over pixels, per mask:
    /// −α_t (1 − p_t)^γ log p_t. Logits and targets [N, H, W]; returns [N].
    /// </summary>
    public static torch.Tensor Focal(torch.Tensor logits, torch.Tensor target, double alpha = 0.25, double gamma = 2)
    {
        using var scope = torch.NewDisposeScope();
        var p = logits.sigmoid();
        var ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction: torch.nn.Reduction.None);
        var pt = p * target + (1 - p) * (1 - target);
        var loss = ce * (1 - pt).pow(gamma);
        var at = target * alpha + (1 - target) * (1 - alpha);
        return (at * loss).flatten(1).mean([1]).MoveToOuterDisposeScope();
    }

    /// <summary>Soft Dice loss (Milletari et al. 2016, eq. 1): 1 − (2 Σ p t + 1)/(Σ p + Σ t + 1), per mask [N].</summary>
    public static torch.Tensor Dice(torch.Tensor logits, torch.Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        var p = logits.sigmoid().flatten(1);
        var t = target.flatten(1);
        var num = 2 * (p * t).sum([1]) + 1;
        var den = p.sum([1]) + t.sum([1]) + 1;
        return (1 - num / den).MoveToOuterDisposeScope();
    }

    /// <summary>IoU of thresholded logits with the target, per mask [N] (no gradient).</summary>
    public static torch.Tensor Iou(torch.Tensor logits, torch.Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var m = (logits > 0).to(target.dtype).flatten(1);
        var t = target.flatten(1);
        var inter = (m * t).sum([1]);
        var union = (m + t).clamp_max(1).sum([1]);
        return (inter / union.clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The fine-tuning recipe's loss of one prompting round for one object: per predicted mask (logits [M, P] over the
    /// pixels that count, target [1, P]) 20·focal + Dice, of which the lowest counts, plus the MSE of every predicted IoU
    /// [M] against its mask's actual IoU (Kirillov et al. 2023, App. A). With SAM 2's object-score logit [1]: SAM 2's
    /// MultiStepMultiMasksAndIous (facebookresearch/sam2 training/loss_fns.py) adds a binary cross-entropy of the score
    /// against "the object is present" (weight 1) and counts the mask and IoU terms only where it is.
    /// Returns the loss and the index of the lowest-loss mask.
    /// </summary>
    internal static (torch.Tensor Loss, int Best) Round(torch.Tensor logits, torch.Tensor target, torch.Tensor iou, torch.Tensor? objectScore)
    {
        using var scope = torch.NewDisposeScope();
        var t = target.expand(logits.shape[0], -1);
        var maskLoss = 20 * Focal(logits, t) + Dice(logits, t);
        var iouLoss = (iou - Iou(logits, t)).pow(2);
        var (best, arg) = maskLoss.min(0);
        var loss = best + iouLoss.mean();
        if (objectScore is not null)
        {
            // ℓ = present·(ℓ_mask + ℓ_IoU) + BCE(s, present), present = 1 when the target has a foreground pixel.
            var present = target.gt(0.5).any().to(objectScore.dtype).reshape(objectScore.shape);
            loss = loss * present.sum() + torch.nn.functional.binary_cross_entropy_with_logits(objectScore, present);
        }
        return (loss.MoveToOuterDisposeScope(), (int)arg.item<long>());
    }
}
