using System.Text.Json.Nodes;
using Tessera.Diffusion.Networks;
using Tessera.Diffusion.Preconditioning;

namespace Tessera.Diffusion.Models;

/// <summary>What network a diffusion model uses, and its settings (stored in checkpoints as JSON).</summary>
/// <param name="Kind">The network: U-Net or DiT.</param>
/// <param name="UNet">U-Net settings (Kind unet).</param>
/// <param name="DiT">DiT settings (Kind dit).</param>
/// <param name="Formulation">Training formulation.</param>
/// <param name="SigmaData">σ_data of EDM preconditioning (data scaled to [−1, 1]).</param>
public sealed record DiffusionModelConfig(NetworkKind Kind = NetworkKind.UNet, UNetConfig? UNet = null, DiTConfig? DiT = null, Formulation Formulation = Formulation.Edm, double SigmaData = 0.5)
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Image channels.</summary>
    public int Channels => Kind == NetworkKind.DiT ? DiT!.InChannels : UNet!.InChannels;

    /// <summary>Image side.</summary>
    public int ImageSize => Kind == NetworkKind.DiT ? DiT!.ImageSize : UNet!.ImageSize;

    /// <summary>Class labels (0: unconditional).</summary>
    public int Classes => Kind == NetworkKind.DiT ? DiT!.Classes : UNet!.Classes;

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>From JSON (checkpoint metadata).</summary>
    /// <exception cref="TesseraFormatException">Unreadable.</exception>
    public static DiffusionModelConfig FromJson(string json, string path)
    {
        try
        {
            var node = JsonNode.Parse(json);
            // Checkpoints written before DiTPosition had its command-line names ("rope", "sincos") hold its member names.
            if (node?["DiT"]?["Position"] is JsonValue v && v.TryGetValue(out string? position) && EnumNames.TryParse(position, out DiTPosition p))
                node["DiT"]!["Position"] = EnumNames.Name(p);
            var c = node.Deserialize<DiffusionModelConfig>(Json) ?? throw new JsonException("empty");
            if (!Enum.IsDefined(c.Kind) || (c.Kind == NetworkKind.UNet && c.UNet is null) || (c.Kind == NetworkKind.DiT && c.DiT is null))
                throw new JsonException($"kind '{EnumNames.Name(c.Kind)}' without its settings");
            return c;
        }
        catch (JsonException e)
        {
            throw new TesseraFormatException(path, $"the metadata's model configuration is not a diffusion model configuration ({e.Message})");
        }
    }

    /// <summary>The σ range sampling starts and ends at.</summary>
    public (double Min, double Max) SigmaRange => Formulation switch
    {
        Formulation.Vp => (new VpPrecond().SigmaMin, new VpPrecond().SigmaMax),
        Formulation.Ve => (0.02, 100),
        Formulation.Flow => (0.002, 200),
        _ => (0.002, 80),
    };
}
