import ArgumentParser
import DaxrefKit
import Foundation

/// `daxref drive --namespace-steps NAMESPACE|provisioned` (hidden): the create-namespace memmap steps
/// on a spare namespace, until `daxref run` wires them in. `provisioned` takes the VM's spare
/// (DAXREF_SPARE_NAMESPACE); a name given here is the opt-in on other machines.
extension DriveCommand {
    func runNamespaceSteps(_ requested: String) throws {
        let spare: String
        if requested == "provisioned" {
            guard let provisioned = SpareNamespace.fromProvisionedEnvironment(ProcessInfo.processInfo.environment) else {
                throw CLIError("--namespace-steps provisioned: no \(SpareNamespace.environmentKey) (daxref vm provisions one with `--provision …,spare`)")
            }
            spare = provisioned
        } else {
            spare = requested
        }
        let scenarios = NamespaceSteps.scenarios.filter { $0.workload.matches(workload, backingID: $0.memory.rawValue) }
        guard !scenarios.isEmpty else {
            printError("drive: no create-namespace step matches --workload \(workload)")
            throw ExitCode(4)
        }
        let before = NamespaceReconfiguration.listing(spare, timeout: timeout)
        let steps: [StepResult]
        do {
            steps = try NamespaceSteps.run(spare: spare, scenarios: scenarios, timeout: timeout) { step in
                printError("drive: \(step.id): \(step.status.rawValue)" + (step.reason.map { " (\($0))" } ?? ""))
            }
        } catch {
            throw CLIError("\(error)")
        }
        print("kernel \(KernelFingerprint.uname().release), spare \(spare)")
        print(NamespaceSteps.renderTable(steps))
        let after = NamespaceReconfiguration.listing(spare, timeout: timeout)
        let identical = before.succeeded && after.succeeded && before.stdout == after.stdout
        if identical {
            print("\(spare) restored: `\(before.command)` before and after identical")
        } else {
            print("\(spare) NOT restored exactly: `\(before.command)` before:\n\(before.stdout)\(before.stderr)\nafter:\n\(after.stdout)\(after.stderr)")
        }
        if let json {
            let report = NamespaceStepsReport(kernel: .current(), spare: spare, steps: steps, ndctlListBefore: before.stdout, ndctlListAfter: after.stdout)
            do { try Data((try report.jsonString() + "\n").utf8).write(to: URL(fileURLWithPath: json)) } catch {
                throw CLIError("cannot write \(json): \(error)")
            }
        }
        if !identical || steps.contains(where: { [.error, .crashed, .timedOut].contains($0.status) }) { throw ExitCode.failure }
    }
}
