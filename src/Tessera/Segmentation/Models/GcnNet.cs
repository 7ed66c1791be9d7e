using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>
/// GCN-Net (Peng et al. 2017, Fig. 2A): a GCN module and a BR block on each of the four ResNet stages; the
/// coarsest score map is upsampled ×2, added to the next finer one and refined by BR, down to stride 4;
/// then two more ×2 upsamplings, each followed by BR — 4 GCN and 9 BR blocks in all. <c>boundaryRefinement</c>
/// false replaces every BR by identity (the paper's ablation, Table 5). The score maps carry the classes rounded
/// up to a multiple of 16 channels and the output keeps the first <c>classes</c>: libtorch 2.10's oneDNN returns
/// NaN gradients for 3×3 convolutions on 8- or 11-channel maps on AVX-512 CPUs (see Runtime.OneDnn).
/// </summary>
public sealed class GcnNet : Module<torch.Tensor, torch.Tensor>, IResNetSegmenter
{
    private readonly ResNet backbone;
    private readonly ModuleList<Module<torch.Tensor, torch.Tensor>> gcn;
    private readonly ModuleList<Module<torch.Tensor, torch.Tensor>> br;
    private readonly int _classes;

    /// <summary>Number of GCN modules (4; or their ablation replacements).</summary>
    public int GcnCount => gcn.Count;

    /// <summary>Number of BR blocks (9, or 0 without BR).</summary>
    public int BrCount => br.Count(m => m is BoundaryRefinement);

    /// <summary>Creates the model with GCN kernel size <paramref name="k"/>.</summary>
    public GcnNet(int classes, int k = 15, bool boundaryRefinement = true, ResNetDepth depth = ResNetDepth.ResNet50, int baseWidth = 64, bool smallStem = false, GcnVariant variant = GcnVariant.Gcn) : base(nameof(GcnNet))
    {
        if (k < 1 || k % 2 == 0) throw new TesseraUserException(nameof(k), $"GCN kernel size must be odd, got {k}");
        backbone = new ResNet(depth, 32, numClasses: 0, baseWidth, smallStem);
        _classes = classes;
        int scores = (classes + 15) / 16 * 16;
        gcn = new ModuleList<Module<torch.Tensor, torch.Tensor>>(backbone.StageChannels.Select(c => variant switch
        {
            GcnVariant.FullKernel => (Module<torch.Tensor, torch.Tensor>)Conv2d(c, scores, k, padding: (k - 1) / 2),
            GcnVariant.Stacked3x3 => Stacked(c, scores, k),
            _ => new GcnModule(c, scores, k),
        }).ToArray());
        br = new ModuleList<Module<torch.Tensor, torch.Tensor>>(Enumerable.Range(0, 9)
            .Select(_ => boundaryRefinement ? (Module<torch.Tensor, torch.Tensor>)new BoundaryRefinement(scores) : Identity()).ToArray());
        RegisterComponents();
    }

    /// <summary>The backbone.</summary>
    public ResNet Backbone => backbone;

    /// <summary>(k − 1)/2 stacked 3×3 convolutions (same receptive field k), the first C → classes, no nonlinearity between (as GCN has none).</summary>
    private static Sequential Stacked(int inChannels, int classes, int k)
    {
        int layers = Math.Max(1, (k - 1) / 2);
        var list = new List<(string, Module<torch.Tensor, torch.Tensor>)>();
        for (int i = 0; i < layers; i++)
            list.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), Conv2d(i == 0 ? inChannels : classes, classes, 3, padding: 1)));
        return Sequential(list.ToArray());
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return ForwardWithLayer3(x).Logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public (torch.Tensor Logits, torch.Tensor Layer3) ForwardWithLayer3(torch.Tensor x)
    {
        var f = backbone.Features(x);
        torch.Tensor[] stages = [f.Layer1, f.Layer2, f.Layer3, f.Layer4];
        var scores = stages.Select((s, i) => br[i].forward(gcn[i].forward(s))).ToArray();   // BR 0–3
        var y = scores[3];
        for (int i = 2, b = 4; i >= 0; i--, b++)                                            // BR 4–6
            y = br[b].forward(Resize.Within(y, scores[i].shape[2], scores[i].shape[3]) + scores[i]);
        y = br[7].forward(Resize.Within(y, y.shape[2] * 2, y.shape[3] * 2));                     // BR 7
        y = br[8].forward(Resize.Within(y, x.shape[2], x.shape[3]));                             // BR 8
        return (y[.., .._classes], f.Layer3);
    }
}
