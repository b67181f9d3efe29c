import Foundation

/// Running helper programs (gzip, ndctl, apt-get, qemu) with their output captured.
public enum Subprocess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case notFound(String)
        case launch(String, String)

        public var description: String {
            switch self {
            case .notFound(let program): "\(program): not found in PATH"
            case .launch(let program, let why): "\(program): could not start (\(why))"
            }
        }
    }

    /// Runs `argv` to completion. stdin is /dev/null; both streams are captured.
    /// `stderrLine`, when given, sees each stderr line as it arrives (progress of long steps).
    public static func capture(
        _ argv: [String], environment: [String: String]? = nil,
        stderrLine: (@Sendable (String) -> Void)? = nil
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw Failure.launch(argv[0], "\(error)") }
        // Read both pipes concurrently so neither fills up and blocks the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            if let stderrLine {
                var partial = Data()
                while case let chunk = err.fileHandleForReading.availableData, !chunk.isEmpty {
                    errData.append(chunk)
                    partial.append(chunk)
                    while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                        stderrLine(String(decoding: partial[partial.startIndex..<newline], as: UTF8.self))
                        partial.removeSubrange(partial.startIndex...newline)
                    }
                }
            } else {
                errData = err.fileHandleForReading.readDataToEndOfFile()
            }
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        if process.terminationStatus == 127 && process.terminationReason == .exit
            && String(decoding: errData, as: UTF8.self).contains("No such file")
        {
            throw Failure.notFound(argv[0])
        }
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
