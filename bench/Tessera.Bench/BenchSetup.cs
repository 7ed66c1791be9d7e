namespace Tessera.Bench;

/// <summary>What every speed benchmark does first: read its positional numbers and set libtorch up as the CLI does.</summary>
internal static class BenchSetup
{
    /// <summary>The integer at position <paramref name="index"/> of <paramref name="args"/>, or <paramref name="fallback"/>.</summary>
    public static int Arg(string[] args, int index, int fallback) =>
        args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

    /// <summary>The precision named at position <paramref name="index"/> of <paramref name="args"/> (fp32, bf16, fp16), or float32.</summary>
    public static Precision PrecisionAt(string[] args, int index) =>
        args.Length > index ? EnumNames.Parse<Precision>("precision", args[index]) : Precision.Float32;

    /// <summary>
    /// <see cref="Runtime.TorchRuntime.Configure"/> with the defaults and libtorch at the thread count of the first
    /// argument (default: all cores), which it returns; the baseline scripts are run at the same count.
    /// </summary>
    public static int Torch(string[] args)
    {
        int threads = Arg(args, 0, Environment.ProcessorCount);
        Runtime.TorchRuntime.Configure(new Runtime.RuntimeOptions());
        torch.set_num_threads(threads);
        return threads;
    }
}
