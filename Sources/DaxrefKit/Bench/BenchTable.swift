extension BenchReport {
    /// The table people read: one row per case, medians with (min–max), the ratio and the goal;
    /// then why cases are unavailable or failed, then where it ran.
    public func renderTable() -> String {
        var table = TextTable("case", "per rep", "daxref", "peer", "limit", "ratio", "goal", "result")
        for benchCase in cases {
            table.add(
                benchCase.id, benchCase.bytes.map { humanBytes(UInt64($0)) } ?? "",
                Self.cell(benchCase.ours, benchCase.metric), Self.cell(benchCase.peer, benchCase.metric),
                Self.cell(benchCase.limit, benchCase.metric), benchCase.displayRatio ?? "—",
                benchCase.goal?.description ?? "—", Self.result(benchCase))
        }
        var lines = [table.render()]
        // Why cases have no numbers, each reason once with the cases it applies to.
        var reasons: [(text: String, ids: [String])] = []
        for benchCase in cases {
            guard let reason = benchCase.reason else { continue }
            let text = "\(benchCase.status.rawValue): \(reason)"
            if let index = reasons.firstIndex(where: { $0.text == text }) {
                reasons[index].ids.append(benchCase.id)
            } else {
                reasons.append((text, [benchCase.id]))
            }
        }
        if !reasons.isEmpty {
            lines.append("")
            lines += reasons.map { "  \($0.ids.joined(separator: ", ")): \($0.text)" }
        }
        lines.append("")
        lines.append("  " + environment.summaryLine)
        lines.append("  medians of \(settings.repetitions) repetitions (min–max); ratio = daxref ÷ peer; bandwidth: higher is better, time: lower is better")
        return lines.joined(separator: "\n")
    }

    /// `739 MiB/s (584–894)`: the median, and min–max in the same unit; `—` for no side.
    static func cell(_ side: BenchSide?, _ metric: BenchCase.Metric) -> String {
        guard let side else { return "—" }
        guard let summary = side.summary else { return "no samples" }
        let unit = DisplayUnit(for: summary.median, metric)
        let range = summary.count > 1 ? " (\(unit.number(summary.min))–\(unit.number(summary.max)))" : ""
        let outcome = side.outcome.map { $0 == "ok" ? "" : " [\($0)]" } ?? ""
        return unit.format(summary.median) + range + outcome
    }

    static func result(_ benchCase: BenchCase) -> String {
        switch benchCase.status {
        case .unavailable: return "unavailable"
        case .error: return "ERROR"
        case .measured:
            guard let met = benchCase.goalMet else { return "measured" }
            return met ? "met" : "NOT MET"
        }
    }
}

extension BenchEnvironment {
    /// `kernel 6.1.0-50-amd64 · qemu-tcg, 2 cores (Intel Xeon …) · pmem ACPI.NFIT · QEMU 7.2.x`
    public var summaryLine: String {
        var parts = ["kernel \(kernel.release)"]
        parts.append("\(machine.virtualization), \(machine.cores) cores" + (machine.cpuModel.map { " (\($0))" } ?? ""))
        if let product = machine.dmi["product_version"] { parts.append("machine \(product)") }
        if let qemu = machine.qemuVersion { parts.append(qemu) }
        if let pmem, !pmem.origin.isEmpty { parts.append("pmem " + pmem.origin.joined(separator: ", ")) }
        if let fio = tools["fio"] { parts.append(fio) }
        return parts.joined(separator: " · ")
    }
}

/// The unit a value is shown in: binary bytes per second for bandwidth, µs/ms/s for time; three
/// significant digits.
struct DisplayUnit {
    var divisor: Double
    var suffix: String

    init(for value: Double, _ metric: BenchCase.Metric) {
        switch metric {
        case .bandwidth:
            let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"]
            var index = 0
            var divisor = 1.0
            while index < units.count - 1, value >= divisor * 1024 * 0.9995 {
                divisor *= 1024
                index += 1
            }
            (self.divisor, suffix) = (divisor, units[index])
        case .duration:
            (divisor, suffix) = value < 1e-3 * 0.9995 ? (1e-6, "µs") : value < 0.9995 ? (1e-3, "ms") : (1, "s")
        }
    }

    func number(_ value: Double) -> String {
        let scaled = value / divisor
        let places = scaled >= 99.95 ? 0 : scaled >= 9.995 ? 1 : 2
        return formatDecimal(scaled, places: places)
    }

    func format(_ value: Double) -> String { number(value) + " " + suffix }
}

func formatValue(_ value: Double, _ metric: BenchCase.Metric) -> String {
    DisplayUnit(for: value, metric).format(value)
}

func formatSeconds(_ seconds: Double) -> String { formatValue(seconds, .duration) }
