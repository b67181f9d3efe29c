/// How the guest gets persistent memory.
public enum PmemOrigin: String, Sendable, CaseIterable, Codable {
    /// Legacy e820 ranges from `memmap=SIZE!START` (nd_e820): raw regions, one namespace each.
    case e820
    /// QEMU `-device nvdimm` with a label area (ACPI NFIT): labelled regions ndctl can carve.
    case nvdimm
}

/// Everything that decides the QEMU command line; `argv` is a pure function of it.
public struct QemuConfiguration: Sendable, Equatable {
    public var kernel: String
    public var initrd: String
    public var accel: String = "tcg"
    /// A model every supported series boots under TCG (see scripts/vm/run-qemu.sh for the survey).
    public var cpuModel: String = "Haswell-noTSX-IBRS"
    public var cpus: Int = 2
    public var memoryMiB: Int = 4096
    public var pmem: PmemOrigin = .nvdimm
    /// Backing files for `-device nvdimm` (one per DIMM), each `nvdimmSizeMiB` large.
    public var nvdimmBackings: [String] = []
    public var nvdimmSizeMiB: Int = 1536
    public var labelSizeKiB: Int = 128
    /// A raw disk image attached as virtio-blk: the non-DAX block device for O_DIRECT targets.
    public var scratchDisk: String?
    /// Files that receive the guest command's stdout and stderr (ttyS1, ttyS2).
    public var stdoutFile: String
    public var stderrFile: String
    /// Writable 9p shares, mounted in the guest at the same absolute path.
    public var shares: [String] = []
    public var extraAppend: [String] = []
    public var runDirectory: String

    public init(kernel: String, initrd: String, stdoutFile: String, stderrFile: String, runDirectory: String) {
        self.kernel = kernel
        self.initrd = initrd
        self.stdoutFile = stdoutFile
        self.stderrFile = stderrFile
        self.runDirectory = runDirectory
    }

    /// The legacy-pmem layout that works on q35: two 512 MiB ranges at 4 GiB and 5 GiB with a gap
    /// between them (so e820 does not merge them) and above the PCI hole (below 4 GiB there may be
    /// no RAM behind them).
    public static let e820Ranges = ["512M!4G", "512M!5G"]

    public var appendLine: String {
        var words = ["console=ttyS0,115200", "loglevel=4", "panic=-1", "oops=panic", "no_timer_check",
                     "tsc=reliable", "mitigations=off", "daxref.run=\(runDirectory)", "daxref.stdio=serial"]
        words.append(contentsOf: shares.enumerated().map { "daxref.share\($0.offset)=\($0.element)" })
        if pmem == .e820 { words.append(contentsOf: Self.e820Ranges.map { "memmap=\($0)" }) }
        return (words + extraAppend).joined(separator: " ")
    }

    public var argv: [String] {
        var args = [
            "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-machine", pmem == .nvdimm ? "q35,nvdimm=on" : "q35", "-accel", accel, "-cpu", cpuModel,
            "-smp", String(cpus),
            "-m", pmem == .nvdimm
                ? "\(memoryMiB)M,slots=\(max(nvdimmBackings.count, 1) + 1),maxmem=\(memoryMiB + nvdimmBackings.count * nvdimmSizeMiB + 1024)M"
                : "\(memoryMiB)M",
            "-kernel", kernel, "-initrd", initrd, "-append", appendLine,
            "-serial", "stdio",
            "-chardev", "file,id=gstdout,path=\(stdoutFile)", "-serial", "chardev:gstdout",
            "-chardev", "file,id=gstderr,path=\(stderrFile)", "-serial", "chardev:gstderr",
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        ]
        for (index, share) in shares.enumerated() {
            args += ["-virtfs", "local,path=\(share),mount_tag=share\(index),security_model=none,multidevs=remap"]
        }
        if pmem == .nvdimm {
            for (index, backing) in nvdimmBackings.enumerated() {
                args += [
                    "-object", "memory-backend-file,id=nvmem\(index),share=on,mem-path=\(backing),size=\(nvdimmSizeMiB)M",
                    "-device", "nvdimm,id=nvdimm\(index),memdev=nvmem\(index),label-size=\(labelSizeKiB)K",
                ]
            }
        }
        if let scratchDisk {
            args += ["-drive", "file=\(scratchDisk),if=virtio,format=raw,cache=none,aio=threads"]
        }
        return args
    }
}
