namespace Tessera;

/// <summary>
/// A problem with what the user supplied (a file, an option, a value), as opposed to a fault in
/// Tessera or the machine. Its message is one line that names the file or option and says what
/// was expected; the command line maps it to exit code 2 without a stack trace.
/// </summary>
public class TesseraUserException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public TesseraUserException(string message) : base(message) { }

    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public TesseraUserException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A file that cannot be read as the format it claims to be (truncated, wrong magic, bad header, wrong shapes).</summary>
public class TesseraFormatException : TesseraUserException
{
    /// <summary>The file at fault.</summary>
    public string Path { get; }

    /// <summary>Creates the exception; the message becomes "PATH: what".</summary>
    public TesseraFormatException(string path, string what) : base($"{path}: {what}") => Path = path;

    /// <summary>Creates the exception with an underlying cause.</summary>
    public TesseraFormatException(string path, string what, Exception inner) : base($"{path}: {what}", inner) => Path = path;
}
