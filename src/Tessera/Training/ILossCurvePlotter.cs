namespace Tessera.Training;

/// <summary>
/// Draws a run's <see cref="LossCurve"/> to an image beside its checkpoint (loss.png). The core library draws
/// nothing; the Tessera.Plotting package's <c>LossCurvePlotter</c> implements it (set
/// <see cref="TrainingOptions.CurvePlotter"/>).
/// </summary>
public interface ILossCurvePlotter
{
    /// <summary>Writes the curve to <paramref name="path"/> (and, where it draws more than one image, beside it).</summary>
    /// <param name="curve">The training and evaluation points so far.</param>
    /// <param name="path">The image file to write (loss.png in the run folder).</param>
    /// <param name="title">Title of the plot.</param>
    void Plot(LossCurve curve, string path, string title);
}
