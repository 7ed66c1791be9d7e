using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Sam2.Inference;
using Tessera.Segmentation.Sam2.Modeling;
using Tessera.Training.Distributed;

namespace Tessera.Segmentation.Sam2.Training;

/// <summary>
/// Fine-tuning of a checkpoint of any SAM family on an instance dataset with one recipe (<see cref="SamDatasetTrainer"/>):
/// the family is told from <see cref="SamDatasetTrainOptions.Init"/> (<see cref="SamCheckpoints.Detect"/>). SAM and
/// MobileSAM write model.safetensors; SAM 2 / SAM 2.1 write model.pt in the official checkpoint layout (the key set and
/// shapes of the input), and their object-score head is trained as the official training does (see <see cref="SamLosses"/>).
/// It lives beside SAM 2 because SAM 2 builds on SAM (never the other way round).
/// </summary>
public static class SamFineTuning
{
    /// <summary>A trainer of the checkpoint's family on the dataset at <see cref="SamDatasetTrainOptions.Root"/>.</summary>
    /// <exception cref="TesseraUserException">The options contradict each other (or adapters asked of SAM 2), or no root folder is given.</exception>
    /// <exception cref="TesseraFormatException">The checkpoint is missing or unreadable.</exception>
    public static SamDatasetTrainer Create(SamDatasetTrainOptions options, torch.Device? device = null, ICommunicator? communicator = null) =>
        Family(options) == SamFamily.Sam2 ? new SamDatasetTrainer(options, LoadSam2, device, communicator) : new SamDatasetTrainer(options, device, communicator);

    /// <summary>A trainer of the checkpoint's family on a dataset the caller supplies.</summary>
    /// <exception cref="TesseraUserException">The options contradict each other (or adapters asked of SAM 2), or the dataset has no images.</exception>
    /// <exception cref="TesseraFormatException">The checkpoint is missing or unreadable.</exception>
    public static SamDatasetTrainer Create(InstanceDataset dataset, SamDatasetTrainOptions options, torch.Device? device = null, ICommunicator? communicator = null) =>
        Family(options) == SamFamily.Sam2 ? new SamDatasetTrainer(dataset, options, LoadSam2, device, communicator) : new SamDatasetTrainer(dataset, options, device, communicator);

    /// <summary>The file name of the fine-tuned model a run of this checkpoint's family writes (model.pt for SAM 2, model.safetensors otherwise).</summary>
    public static string ModelFile(string checkpoint) => SamCheckpoints.Detect(checkpoint) == SamFamily.Sam2 ? "model.pt" : "model.safetensors";

    private static SamFamily Family(SamDatasetTrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var family = SamCheckpoints.Detect(options.Init);
        if (family == SamFamily.Sam2 && options.LoraRank > 0)
            throw new TesseraUserException(nameof(options.LoraRank), "adapters are for SAM and MobileSAM image encoders (ViT, TinyViT); SAM 2's Hiera encoder takes none");
        return family;
    }

    private static IFineTunedSam LoadSam2(string path, torch.Device device) => new Sam2FineTunedModel(Sam2Model.Load(path, device));
}
