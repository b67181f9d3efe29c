import Foundation
import Testing

@testable import DaxrefKit

/// Every key the workloads record is described by the catalogue: read from the sources themselves,
/// so a new `StepKeys` constant, secondary syscall or `kprobe.*` key without a description fails.
@Suite struct StepKeyCatalogueTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/DaxrefKit")

    static func source(_ path: String) throws -> String {
        try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
    }

    /// The string literals after `marker` in `text` (`ObservableKey = "…"`, `secondarySyscall("…"`).
    static func literals(after marker: String, in text: String) -> [String] {
        text.components(separatedBy: marker).dropFirst().compactMap { rest in
            rest.split(separator: "\"", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
    }

    static var workloadSources: [String] {
        let directory = sources.appendingPathComponent("Workloads")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".swift") }.compactMap { try? source("Workloads/" + $0) }
    }

    @Test func everyStepKeysConstantIsDescribedByItsOwnEntry() throws {
        let keys = Self.literals(after: "ObservableKey = \"", in: try Self.source("Workloads/StepResult.swift"))
        #expect(keys.count >= 25, "the scan found the StepKeys constants: \(keys)")
        for key in keys {
            let description = ObservableCatalogue.describe(ObservableKey(rawValue: key))
            #expect(description != nil, "\(key) is not in the catalogue")
            #expect(description?.isFamily == false, "\(key) is only covered by a family: give it an entry")
        }
    }

    @Test func everySecondarySyscallFieldIsDescribed() {
        let code = Self.workloadSources.joined(separator: "\n")
        let names = Set(Self.literals(after: "secondarySyscall(\"", in: code) + Self.literals(after: "log.syscall(\"", in: code))
            .union(["io_uring_setup"])
        #expect(names.isSuperset(of: ["munmap", "vmsplice", "io_uring_unregister", "process_vm_readv"]))
        for name in names {
            for field in ["errno", "result", "duration.us"] {
                let key = StepKeys.secondary(name, field)
                #expect(ObservableCatalogue.describe(key)?.key == "syscall.<name>.\(field)", "\(key)")
            }
        }
    }

    @Test func everyKprobeKeyIsDescribed() throws {
        let code = Self.workloadSources.joined(separator: "\n")
        let literal = Self.literals(after: "\"kprobe.", in: code).map { "kprobe." + $0 }
        #expect(literal.contains("kprobe.pin_mechanism"))
        let moments = TimelineWorkload.Moment.allCases.map(\.rawValue)
        var keys = Set(literal.map { ObservableKey(rawValue: $0) } + KprobeObservations.sessionKeys + ["kprobe.available"])
        for moment in moments {
            keys.insert(KprobeObservations.refcountKey(moment))
            keys.insert(KprobeObservations.pincountKey(moment))
        }
        for key in keys {
            #expect(ObservableCatalogue.describe(key) != nil, "\(key) is not in the catalogue")
        }
        for moment in moments {
            // The moments the model predicts are documented one by one, not only by the family.
            #expect(ObservableCatalogue.describe(KprobeObservations.refcountKey(moment))?.isFamily == false, "\(moment)")
        }
    }

    @Test func unknownKeysAreNotDescribed() {
        #expect(ObservableCatalogue.describe("kprobe.nonsense") == nil)
        #expect(ObservableCatalogue.describe("syscall.munmap.nonsense") == nil)
        #expect(ObservableCatalogue.describe("pipe.bogus") == nil)
    }
}
