import ArgumentParser

/// A failure the user can act on: printed as "Error: <message>", exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

import Foundation

/// Diagnostics go to stderr so stdout stays parseable.
func printError(_ message: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((message + terminator).utf8))
}
