import ArgumentParser

/// `attnlab`: the command line. Each subcommand lives in its own file and only calls library code.
struct AttnLabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attnlab",
        abstract: "A debugging workbench for the attention of transformer models.",
        subcommands: [
            // one line per command, in the order a user meets them
            HelloCommand.self,
            ViewCommand.self,
        ]
    )
}

struct HelloCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hello", abstract: "Placeholder.")
    func run() throws { print("hello") }
}

AttnLabCommand.main()
