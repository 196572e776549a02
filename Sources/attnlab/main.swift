import ArgumentParser
import AttnCore
import Foundation

/// `attnlab`: the command line. Each subcommand lives in its own file and only calls library code.
struct AttnLabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attnlab",
        abstract: "A debugging workbench for the attention of transformer models.",
        version: AttnLab.version,
        subcommands: [
            // one line per command, in the order a user meets them
            ModelsCommand.self,
            TraceCommand.self,
            ScanCommand.self,
            ViewCommand.self,
            FigureCommand.self,
            RunCommand.self,
            MergeCommand.self,
            SubmitCommand.self,
            DiffCommand.self,
            SnapshotCommand.self,
            ReviewCommand.self,
            ServeCommand.self,
            BenchCommand.self,
        ]
    )
}

/// Runs a command line: `error: …` and exit 1 for a failure, the usage message and exit 2 for bad usage.
func runCommandLine() -> Never {
    do {
        var command = try AttnLabCommand.parseAsRoot()
        try command.run()
        exit(0)
    } catch let exit as ExitCode {
        // A command that has already said what failed (attnlab run with failing expectations).
        Foundation.exit(exit.rawValue)
    } catch {
        let code = AttnLabCommand.exitCode(for: error)
        if code.isSuccess {
            print(AttnLabCommand.fullMessage(for: error))
            exit(0)
        }
        if code == .validationFailure {
            FileHandle.standardError.write(Data((AttnLabCommand.fullMessage(for: error) + "\n").utf8))
            exit(2)
        }
        // One line (an experiment's problems follow, indented), control characters escaped.
        FileHandle.standardError.write(Data("error: \(MessageText.describe(error))\n".utf8))
        exit(1)
    }
}

BLAS.chooseKernels()
Parallel.configureAllocator()
runCommandLine()
