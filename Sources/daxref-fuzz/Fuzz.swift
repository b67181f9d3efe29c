import DaxrefKit
import Foundation

#if DAXREF_FUZZ
import CLibFuzzer
#endif

/// Built by scripts/fuzz.sh (-sanitize=fuzzer -DDAXREF_FUZZ): libFuzzer runs the target named by
/// $DAXREF_FUZZ_TARGET (libFuzzer owns the arguments). A plain build replays files through a target:
///
///     daxref-fuzz TARGET FILE|DIR…    run each file (each file in a DIR) once; a crash is the finding
///     daxref-fuzz --list              the targets (in either build)
@main
struct Fuzz {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--list"] {
            for target in FuzzTarget.all { print(target.name.padding(toLength: 14, withPad: " ", startingAt: 0), target.parses) }
            return
        }
        #if DAXREF_FUZZ
        let name = ProcessInfo.processInfo.environment["DAXREF_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget.named(name) else { usage("DAXREF_FUZZ_TARGET=\(name) names no target") }
        selected = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        // A C callback cannot capture: the target goes through `selected`.
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            Fuzz.selected!.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        guard arguments.count >= 2, let target = FuzzTarget.named(arguments[0]) else { usage("expected TARGET FILE|DIR…") }
        var count = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { usage("cannot read \(file)") }
                target.run(Array(data))
                count += 1
            }
        }
        print("\(target.name): \(count) inputs, no crash")
        #endif
    }

    nonisolated(unsafe) static var selected: FuzzTarget?

    /// `path` itself, or the regular files directly in it when it is a directory.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }

    static func usage(_ problem: String) -> Never {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        FileHandle.standardError.write(Data("daxref-fuzz: \(problem)\ntargets: \(names)\n".utf8))
        exit(2)
    }
}
