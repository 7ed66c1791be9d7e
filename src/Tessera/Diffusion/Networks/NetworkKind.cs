namespace Tessera.Diffusion.Networks;

/// <summary>The network of a diffusion model; its name (<see cref="EnumNames"/>) is what checkpoints store.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NetworkKind>))]
public enum NetworkKind
{
    /// <summary>The U-Net (<see cref="UNet"/>).</summary>
    [JsonStringEnumMemberName("unet")] UNet,
    /// <summary>The Diffusion Transformer (<see cref="DiT"/>).</summary>
    [JsonStringEnumMemberName("dit")] DiT,
}
