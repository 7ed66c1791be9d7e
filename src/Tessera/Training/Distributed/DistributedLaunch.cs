namespace Tessera.Training.Distributed;

/// <summary>A launch by an MPI launcher as the environment tells it.</summary>
/// <param name="Size">Processes in the job.</param>
/// <param name="Rank">This process's rank (as the launcher says; MPI's own count is authoritative).</param>
/// <param name="LocalRank">Rank on this machine.</param>
/// <param name="Source">Where the numbers came from, for the first line of output.</param>
public sealed record LaunchInfo(int Size, int Rank, int LocalRank, string Source);

/// <summary>
/// Recognises a data-parallel launch and joins it: under <c>mpirun</c> (Open MPI's <c>OMPI_COMM_WORLD_SIZE</c>),
/// a PMI launcher (<c>PMI_SIZE</c>: MPICH's Hydra, Slurm's PMI2) or <c>srun</c> (<c>SLURM_NTASKS</c>) with more than one
/// process, <see cref="Connect"/> initialises MPI (<see cref="MpiCommunicator"/>, or <see cref="NcclCommunicator"/> for a
/// CUDA device); otherwise the process trains alone (<see cref="SingleProcess"/>), exactly as without a launcher.
/// </summary>
public static class DistributedLaunch
{
    /// <summary>The launch the environment describes, or null for a single process.</summary>
    public static LaunchInfo? Detect(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        int? Int(string name) => int.TryParse(environment(name), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;
        int local = Int("OMPI_COMM_WORLD_LOCAL_RANK") ?? Int("MPI_LOCALRANKID") ?? Int("PMI_LOCAL_RANK") ?? Int("SLURM_LOCALID") ?? 0;
        if (Int("OMPI_COMM_WORLD_SIZE") is > 1 and int ompi)
            return new LaunchInfo(ompi, Int("OMPI_COMM_WORLD_RANK") ?? 0, local, "Open MPI (OMPI_COMM_WORLD_RANK/SIZE)");
        if (Int("PMI_SIZE") is > 1 and int pmi)
            return new LaunchInfo(pmi, Int("PMI_RANK") ?? 0, local, "PMI (PMI_RANK/PMI_SIZE)");
        if (Int("SLURM_NTASKS") is > 1 and int slurm && environment("SLURM_PROCID") is not null)
            return new LaunchInfo(slurm, Int("SLURM_PROCID") ?? 0, local, "Slurm (SLURM_PROCID/SLURM_NTASKS)");
        return null;
    }

    /// <summary>
    /// Joins the job the environment describes (<see cref="Detect"/>), with NCCL when <paramref name="device"/> is
    /// CUDA; a single process gets <see cref="SingleProcess.Instance"/>. Call once per process, before training; the
    /// caller disposes the result when the process ends (MPI_Finalize).
    /// </summary>
    /// <exception cref="TesseraUserException">Open MPI (or NCCL for CUDA) is missing, or MPI sees another number of processes than the launcher started (e.g. srun without --mpi=pmix).</exception>
    public static ICommunicator Connect(torch.Device device, Func<string, string?>? environment = null)
    {
        if (Detect(environment) is not { } launch) return SingleProcess.Instance;
        var mpi = new MpiCommunicator(launch.Source, launch.LocalRank);
        if (mpi.Size != launch.Size)
        {
            mpi.Dispose();
            throw new TesseraUserException($"{launch.Source} says {launch.Size} processes but MPI sees {mpi.Size}: the launcher and Open MPI do not talk (under Slurm use srun --mpi=pmix, or mpirun inside the allocation)");
        }
        return device.type == DeviceType.CUDA ? new NcclCommunicator(mpi) : mpi;
    }

    /// <summary>The device a rank trains on: its local GPU (cuda:LocalRank) when <paramref name="device"/> is CUDA and there are several ranks, else <paramref name="device"/>.</summary>
    public static torch.Device DeviceFor(torch.Device device, ICommunicator communicator) =>
        device.type == DeviceType.CUDA && communicator.Size > 1 ? new torch.Device(DeviceType.CUDA, communicator.LocalRank) : device;
}
