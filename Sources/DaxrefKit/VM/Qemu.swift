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
    /// A fixed model (`max` changes with the QEMU version and turns on 5-level paging) without the
    /// features TCG cannot provide; pdpe1gb allows 1 GiB device-dax faults, clwb/clflushopt give the
    /// pmem flush paths of real pmem hosts. Booted 24/24 on 6.1, 7.2.13 and 7.3.4 (scripts/vm/run-qemu.sh).
    public var cpuModel: String = "Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid,+pdpe1gb,+clflushopt,+clwb"
    public var cpus: Int = 2
    public var memoryMiB: Int = 4096
    public var pmem: PmemOrigin = .nvdimm
    /// Backing file of the `-device nvdimm` (sparse; in /dev/shm so guest writes stay in memory).
    public var nvdimmBacking: String?
    /// 6 GiB: the default namespaces (1.5 GiB) and the 2 GiB spare, plus room for a 2 GiB devdax1g.
    public var nvdimmSizeMiB: Int = 6144
    public var labelSizeKiB: Int = 128
    /// A raw disk image attached as virtio-blk with serial "daxref-blk": the non-DAX block device.
    public var scratchDisk: String?
    /// The per-run directory (tag daxrun): cmd, cwd, provision in; exit, provisioned.* out.
    public var runDirectory: String
    /// Files that receive the guest command's stdout and stderr (ttyS1, ttyS2).
    public var stdoutFile: String
    public var stderrFile: String
    /// Writable host directories, mounted in the guest at the same absolute path.
    public var shares: [String] = []
    /// The same, read-only (the binary's and scripts' directories where the guest's mounts hide them).
    /// Mounted first, so a writable share inside one is mounted over it.
    public var readOnlyShares: [String] = []
    public var extraAppend: [String] = []

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
        // loglevel=5: KERN_WARNING and worse (WARN/BUG/Oops) reach the console, info noise does not;
        // panic=-1 with -no-reboot turns a panic into a QEMU exit.
        // tsc=unstable: under multi-threaded TCG, patching the sched_clock_stable static key while
        // other vCPUs run sometimes leaves a stale int3 (7.x "Oops: int3" in sched_clock_cpu).
        var words = ["console=ttyS0", "loglevel=5", "panic=-1", "mitigations=off", "tsc=unstable", "daxref.stdio=serial"]
        words += allShares.enumerated().map { "daxref.share\($0.offset)=\($0.element.path)" }
        if pmem == .e820 { words += Self.e820Ranges.map { "memmap=\($0)" } }
        return (words + extraAppend).joined(separator: " ")
    }

    public static let program = "qemu-system-x86_64"

    /// Every share in mount order (init mounts daxref.share0, share1, … in turn).
    var allShares: [(path: String, readOnly: Bool)] {
        readOnlyShares.map { ($0, true) } + shares.map { ($0, false) }
    }

    public var argv: [String] {
        let nvdimm = pmem == .nvdimm ? nvdimmBacking : nil
        var args = [
            Self.program, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-machine", nvdimm != nil ? "q35,nvdimm=on" : "q35",
            "-accel", accel == "tcg" ? "tcg,thread=multi" : accel, "-cpu", cpuModel, "-smp", String(cpus),
            "-m", nvdimm != nil ? "\(memoryMiB)M,slots=2,maxmem=\(memoryMiB + nvdimmSizeMiB)M" : "\(memoryMiB)M",
            "-kernel", kernel, "-initrd", initrd, "-append", appendLine,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", "local,path=\(runDirectory),mount_tag=daxrun,security_model=none,multidevs=remap",
        ]
        for (index, share) in allShares.enumerated() {
            args += ["-virtfs", "local,path=\(share.path),mount_tag=share\(index),security_model=none,multidevs=remap"
                + (share.readOnly ? ",readonly=on" : "")]
        }
        if let nvdimm {
            args += [
                "-object", "memory-backend-file,id=pmem0,share=on,mem-path=\(nvdimm),size=\(nvdimmSizeMiB)M",
                "-device", "nvdimm,id=nvdimm0,memdev=pmem0,label-size=\(labelSizeKiB)K",
            ]
        }
        if let scratchDisk {
            args += ["-drive", "file=\(scratchDisk),if=none,id=blk0,format=raw,cache=unsafe",
                     "-device", "virtio-blk-pci,drive=blk0,serial=daxref-blk"]
        }
        // ttyS0: kernel console and init's markers; ttyS1/ttyS2: the command's stdout/stderr.
        args += ["-serial", "stdio",
                 "-chardev", "file,id=gstdout,path=\(stdoutFile)", "-serial", "chardev:gstdout",
                 "-chardev", "file,id=gstderr,path=\(stderrFile)", "-serial", "chardev:gstderr"]
        return args
    }
}
