namespace Tessera.Training.Distributed;

/// <summary>
/// Sums of an evaluation split over the ranks by units (chunks of scenes, images), merged so that every rank gets, bit for
/// bit, what one process computes: each rank fills the rows of the units it owns in a [units, width] table (the others
/// stay 0), the table is all-reduced (each entry is one rank's value plus exact zeros), and the rows are added in unit
/// order on every rank. One process runs the same row-by-row addition, so the result does not depend on the rank count.
/// </summary>
internal static class ExactSums
{
    /// <summary>Whether unit <paramref name="unit"/> is this rank's (units dealt round-robin: k, k + R, …).</summary>
    public static bool Owns(ICommunicator communicator, int unit) => unit % communicator.Size == communicator.Rank;

    /// <summary>All-reduces <paramref name="table"/> (units × <paramref name="width"/>) in place and returns the sum of its rows, in unit order.</summary>
    public static double[] Merge(ICommunicator communicator, double[] table, int width)
    {
        if (communicator.Size > 1) communicator.AllReduce(table.AsSpan());
        var total = new double[width];
        for (int row = 0; row * width < table.Length; row++)
            for (int j = 0; j < width; j++) total[j] += table[row * width + j];
        return total;
    }
}
