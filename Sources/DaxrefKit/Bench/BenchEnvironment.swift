import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where the numbers were measured: without this a figure cannot be compared with another one.
public struct BenchEnvironment: Codable, Sendable {
    public var kernel: KernelFingerprint
    public var machine: MachineFingerprint
    /// The persistent memory the DAX cases ran on; nil when the inventory could not be read.
    public var pmem: PmemFingerprint?
    /// The non-DAX block device (or directory) O_DIRECT went to.
    public var blockTarget: BlockTarget?
    /// Versions and paths of the peers (`fio`, `reference`) and of daxref itself.
    public var tools: [String: String]

    enum CodingKeys: String, CodingKey {
        case kernel, machine, pmem, tools
        case blockTarget = "block_target"
    }

    public init(kernel: KernelFingerprint, machine: MachineFingerprint, pmem: PmemFingerprint?, blockTarget: BlockTarget?, tools: [String: String]) {
        self.kernel = kernel
        self.machine = machine
        self.pmem = pmem
        self.blockTarget = blockTarget
        self.tools = tools
    }
}

/// The machine class: how many CPUs, which, and whether this is bare metal or which VM.
public struct MachineFingerprint: Codable, Sendable, Equatable {
    public var cores: Int
    public var cpuModel: String?
    public var memoryBytes: UInt64?
    /// `bare-metal`, `qemu-tcg`, `qemu-kvm`, `kvm` (a KVM hypervisor that is not QEMU, or no DMI to
    /// tell), or `virtual (VENDOR)`.
    public var virtualization: String
    /// What `virtualization` was concluded from.
    public var evidence: [String]
    /// /sys/class/dmi/id: sys_vendor, product_name, product_version (QEMU's machine type, which
    /// carries the QEMU version: `pc-q35-7.2`), bios_version.
    public var dmi: [String: String]
    /// On the host that runs the guests: `qemu-system-x86_64 --version`.
    public var qemuVersion: String?

    enum CodingKeys: String, CodingKey {
        case cores, dmi, evidence, virtualization
        case cpuModel = "cpu_model"
        case memoryBytes = "memory_bytes"
        case qemuVersion = "qemu_version"
    }

    public static func current(withQEMUVersion: Bool = false) -> MachineFingerprint {
        let cpuinfo = (try? SystemFile.readString("/proc/cpuinfo")) ?? ""
        var dmi: [String: String] = [:]
        for name in ["sys_vendor", "product_name", "product_version", "bios_version"] {
            if let value = (try? SystemFile.readAttribute(FilePath("/sys/class/dmi/id/" + name))) ?? nil, !value.isEmpty {
                dmi[name] = value
            }
        }
        let clocksources = ((try? SystemFile.readAttribute("/sys/devices/system/clocksource/clocksource0/available_clocksource")) ?? nil) ?? ""
        let flags = cpuinfoValue("flags", in: cpuinfo)?.split(separator: " ").map(String.init) ?? []
        let (virtualization, evidence) = classify(
            cpuFlags: Set(flags), dmiVendor: dmi["sys_vendor"], clocksources: clocksources.split(separator: " ").map(String.init))
        let memoryKB = (try? MemInfo.read())?["MemTotal"]?.value
        var qemu: String?
        if withQEMUVersion, let output = try? Subprocess.capture(["qemu-system-x86_64", "--version"]), output.status == 0 {
            qemu = output.stdout.split(separator: "\n").first.map(String.init)
        }
        return MachineFingerprint(
            cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), cpuModel: cpuinfoValue("model name", in: cpuinfo),
            memoryBytes: memoryKB.map { UInt64($0) * 1024 }, virtualization: virtualization, evidence: evidence, dmi: dmi,
            qemuVersion: qemu)
    }

    /// The `name : value` of the first processor in /proc/cpuinfo.
    static func cpuinfoValue(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces) == name {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// QEMU names itself in DMI (sys_vendor `QEMU`); KVM offers the guest kvm-clock, TCG does not;
    /// any hypervisor sets the CPUID hypervisor bit (`hypervisor` in the flags).
    public static func classify(cpuFlags: Set<String>, dmiVendor: String?, clocksources: [String]) -> (String, [String]) {
        var evidence: [String] = []
        let hypervisorBit = cpuFlags.contains("hypervisor")
        let kvmClock = clocksources.contains("kvm-clock")
        evidence.append(hypervisorBit ? "cpuinfo: hypervisor flag" : "cpuinfo: no hypervisor flag")
        evidence.append(dmiVendor.map { "dmi sys_vendor: \($0)" } ?? "dmi: none")
        evidence.append(kvmClock ? "clocksource: kvm-clock offered" : "clocksource: no kvm-clock")
        if dmiVendor == "QEMU" { return (kvmClock ? "qemu-kvm" : "qemu-tcg", evidence) }
        if kvmClock { return ("kvm", evidence) }
        if hypervisorBit { return ("virtual (\(dmiVendor ?? "unknown hypervisor"))", evidence) }
        return ("bare-metal", evidence)
    }
}

/// Where the persistent memory comes from and how it is carved, from the inventory.
public struct PmemFingerprint: Codable, Sendable, Equatable {
    /// The nvdimm bus providers: `ACPI.NFIT` (real NVDIMMs, or QEMU `-device nvdimm`), `e820`
    /// (legacy `memmap=` ranges), `nfit_test.*`.
    public var origin: [String]
    public var namespaces: [Namespace]
    public var daxMounts: [DaxMount]

    enum CodingKeys: String, CodingKey {
        case origin, namespaces
        case daxMounts = "dax_mounts"
    }

    public init(_ inventory: Inventory) {
        origin = inventory.buses.map(\.provider)
        namespaces = inventory.namespaces
        daxMounts = inventory.daxMounts
    }
}

/// What the run was asked to do; recorded so a report says how it was made.
public struct BenchSettings: Codable, Sendable, Equatable {
    public var repetitions: Int
    public var quick: Bool
    public var groups: [BenchCase.Group]
    /// Bytes per memcpy (copy) and per fresh mapping (fault-in).
    public var copyBytes: Int
    /// memcpys of `copyBytes` per repetition (the DAX devices are too small for one long copy).
    public var copyPasses: Int
    /// Bytes per O_DIRECT pass, and the size of each I/O.
    public var directBytes: Int
    public var blockSize: Int
    /// The mapping pinned and snapshotted (1 GiB unless the device is smaller).
    public var pinBytes: Int
    /// Seconds one helper process (one case, all its repetitions) may take.
    public var timeout: Double
    /// Host side only: the kernels, the suite's guest command, the provisioning.
    public var vmKernels: [String]?
    public var suiteCommand: [String]?
    public var provision: String?

    enum CodingKeys: String, CodingKey {
        case repetitions, quick, groups, timeout, provision
        case copyBytes = "copy_bytes"
        case copyPasses = "copy_passes"
        case directBytes = "direct_bytes"
        case blockSize = "block_size"
        case pinBytes = "pin_bytes"
        case vmKernels = "vm_kernels"
        case suiteCommand = "suite_command"
    }

    /// The full run: large enough that each timed repetition takes long enough for the clock.
    public static let standard = BenchSettings(
        repetitions: 5, quick: false, groups: [.copy, .faultIn, .direct, .pin, .snapshot], copyBytes: 128 << 20,
        copyPasses: 4, directBytes: 128 << 20, blockSize: 1 << 20, pinBytes: 1 << 30, timeout: 1800)

    /// A smoke test: small sizes, two repetitions.
    public static let quick = BenchSettings(
        repetitions: 2, quick: true, groups: [.copy, .faultIn, .direct, .pin, .snapshot], copyBytes: 16 << 20,
        copyPasses: 1, directBytes: 16 << 20, blockSize: 1 << 20, pinBytes: 64 << 20, timeout: 600)

    public init(
        repetitions: Int, quick: Bool, groups: [BenchCase.Group], copyBytes: Int, copyPasses: Int = 1, directBytes: Int,
        blockSize: Int, pinBytes: Int, timeout: Double, vmKernels: [String]? = nil, suiteCommand: [String]? = nil, provision: String? = nil
    ) {
        self.repetitions = repetitions
        self.quick = quick
        self.groups = groups
        self.copyBytes = copyBytes
        self.copyPasses = copyPasses
        self.directBytes = directBytes
        self.blockSize = blockSize
        self.pinBytes = pinBytes
        self.timeout = timeout
        self.vmKernels = vmKernels
        self.suiteCommand = suiteCommand
        self.provision = provision
    }
}
