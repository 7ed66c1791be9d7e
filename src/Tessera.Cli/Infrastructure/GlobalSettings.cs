namespace Tessera.Cli.Infrastructure;

/// <summary>Options every command accepts.</summary>
public class GlobalSettings : CommandSettings
{
    [CommandOption("--device <DEVICE>"), Description("Where tensors live: cpu, cuda or cuda:N. Default cpu.")] public string Device { get; init; } = "cpu";
    [CommandOption("--threads <N>"), Description("libtorch intra-op threads (0 = libtorch's default).")] public int Threads { get; init; }
    [CommandOption("--seed <SEED>"), Description("Seed for every random choice; the same seed reproduces a run bit for bit on the same machine. Default 0.")] public long Seed { get; init; }
    [CommandOption("-q|--quiet"), Description("No progress bars or chatter; results only.")] public bool Quiet { get; init; }

    public override ValidationResult Validate() =>
        Threads < 0 ? ValidationResult.Error($"--threads: {Threads} is negative; expected 0 (default) or a positive count") : ValidationResult.Success();

    /// <summary>
    /// Applies the global options: the process set-up of <see cref="TorchRuntime.Configure"/> (the device, CUDA
    /// initialised before any other libtorch use; heap, NNPACK, oneDNN, the thread count) and the seed. Returns the device.
    /// </summary>
    public torch.Device Apply()
    {
        torch.Device device = TorchRuntime.Configure(new RuntimeOptions { Device = Device, Threads = Threads });
        TorchRuntime.Seed(Seed);
        return device;
    }
}

/// <summary>Options of commands that read Fashion-MNIST.</summary>
public class DataSettings : GlobalSettings
{
    [CommandOption("--data <DIR>"), Description("Folder with the Fashion-MNIST IDX files (train-images-idx3-ubyte[[.gz]] …). Default: Debian's dataset-fashion-mnist, else the embedded subset.")] public string? Data { get; init; }
}
