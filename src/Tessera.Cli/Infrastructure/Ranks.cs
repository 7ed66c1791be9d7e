using Tessera.Training.Distributed;

namespace Tessera.Cli.Infrastructure;

/// <summary>
/// The data-parallel launch of a training verb: joined once per process (MPI initialised) when the process was started
/// by mpirun, srun or another MPI launcher with several ranks, finalised when <see cref="Program.Run"/> ends; a rank that
/// fails aborts the job after reporting, so no rank waits in a collective.
/// </summary>
internal static class Ranks
{
    private static ICommunicator? _joined;

    /// <summary>
    /// Joins the launch, if any: says "rank R/N from …" as the verb's first line on every rank, silences the progress
    /// of ranks other than 0, and returns the communicator and the rank's device (its local GPU for CUDA).
    /// </summary>
    /// <exception cref="TesseraUserException"><paramref name="unsupported"/> is given (the verb trains in one process only), or MPI cannot be joined.</exception>
    public static (ICommunicator Communicator, torch.Device Device) Join(Ui ui, torch.Device device, string? unsupported = null)
    {
        if (DistributedLaunch.Detect() is not { } launch) return (SingleProcess.Instance, device);
        if (unsupported is not null)
            throw new TesseraUserException($"{unsupported} trains in one process only, but {launch.Size} processes were launched ({launch.Source}); start one");
        _joined ??= DistributedLaunch.Connect(device);
        ui.Result(_joined.Describe());
        if (_joined.Rank != 0) ui.Quiet = true;
        return (_joined, DistributedLaunch.DeviceFor(device, _joined));
    }

    /// <summary>Whether this process is a rank other than 0 (which leaves the final report to rank 0).</summary>
    public static bool IsFollower => _joined is { Rank: > 0 };

    /// <summary>After a failure was reported: ends every rank of the job with <paramref name="exitCode"/> (MPI_Abort); nothing without a launch.</summary>
    public static void AbortJob(int exitCode)
    {
        if (_joined is { Size: > 1 } c) c.Abort(exitCode);
    }

    /// <summary>Finalises MPI if it was joined.</summary>
    public static void Finish()
    {
        _joined?.Dispose();
        _joined = null;
    }
}
