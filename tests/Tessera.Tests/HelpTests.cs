using System.Xml.Linq;

namespace Tessera.Tests;

/// <summary><c>--help</c> of every verb the application registers works and lists the verb's options.</summary>
[Collection("serial")]
public class HelpTests
{
    /// <summary>Every leaf command with its path and option names, read from the app's own model (<c>tessera cli xmldoc</c>).</summary>
    public static TheoryData<string, string[]> Verbs()
    {
        var (code, xml) = CliTests.Run("cli", "xmldoc");
        Assert.Equal(0, code);
        var data = new TheoryData<string, string[]>();
        foreach (XElement command in XDocument.Parse(xml).Descendants("Command").Where(c => (string?)c.Attribute("IsBranch") == "false"))
        {
            string path = string.Join(' ', command.AncestorsAndSelf("Command").Reverse().Select(c => (string)c.Attribute("Name")!));
            string[] options = command.Element("Parameters")?.Elements("Option")
                // help lists an option by its first long name; later ones are former names kept as aliases (--output,out)
                .SelectMany(o => new[] { ((string?)o.Attribute("Long"))?.Split(',')[0], (string?)o.Attribute("Short") }
                    .Where(n => !string.IsNullOrEmpty(n)).Select(n => (n!.Length == 1 ? "-" : "--") + n))
                .ToArray() ?? [];
            data.Add(path, options);
        }
        return data;
    }

    [Fact]
    public void The_model_holds_every_verb_family()
    {
        var paths = Verbs().Select(row => (string)row[0]).ToHashSet();
        // One verb of every branch, and the totals, so an empty or truncated model cannot pass the theory below.
        foreach (string verb in new[] { "info", "quickstart", "data grid", "posenc bench", "diffusion train", "diffusion analytic", "seg train", "sam auto", "classifier train", "checkpoint inspect" })
            Assert.Contains(verb, paths);
        Assert.True(paths.Count >= 18, $"only {paths.Count} verbs: {string.Join(", ", paths)}");
    }

    [Fact]
    public void Every_command_class_is_registered()
    {
        var (_, xml) = CliTests.Run("cli", "xmldoc");
        var registered = XDocument.Parse(xml).Descendants("Command").Select(c => (string?)c.Attribute("ClrType")).ToHashSet();
        var commands = typeof(Tessera.Cli.Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(Spectre.Console.Cli.ICommand).IsAssignableFrom(t)).Select(t => t.FullName).ToList();
        Assert.NotEmpty(commands);
        Assert.All(commands, c => Assert.Contains(c, registered));
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Help_exits_0_and_names_every_option(string verb, string[] options)
    {
        var (code, output) = CliTests.Run([.. verb.Split(' '), "--help"]);
        Assert.True(code == 0, $"tessera {verb} --help exited {code}: {output}");
        Assert.Contains("OPTIONS:", output);
        Assert.NotEmpty(options);
        foreach (string option in options)
            Assert.Matches($@"(^|[\s,]){System.Text.RegularExpressions.Regex.Escape(option)}([\s,<]|$)", output);
    }

    [Theory]
    [InlineData("--rgb")]
    [InlineData("--size", "32")]
    public void Diffusion_train_on_fashion_mnist_names_the_flag_that_exists(string flag, params string[] value)
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run(["diffusion", "train", "--out", dir.Path, flag, .. value]);
        Assert.Equal(2, code);
        Assert.Contains(flag, output);
        Assert.Contains("--images", output);
        Assert.DoesNotContain("--channels", output);
    }
}
