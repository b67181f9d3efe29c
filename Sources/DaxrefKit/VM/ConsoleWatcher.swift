/// Reads the guest's serial console line by line and says what happened: init's markers, and
/// kernel faults (panic, oops, BUG, WARN) with the lines around them as evidence.
public struct ConsoleWatcher: Sendable {
    public typealias Fault = KernelFault

    public struct Incident: Sendable, Equatable {
        public var fault: Fault
        /// The console line that announced it.
        public var headline: String
        /// The excerpt: lines before it, the line, and what followed until the trace ended.
        public var excerpt: [String]
        /// Whether it happened before init ran (early boot): such a boot is retried, not reported.
        public var beforeInit: Bool
    }

    /// Markers printed by scripts/vm/init.
    public static let bootedMarker = "DAXREF-GUEST: booted"
    public static let exitMarker = "DAXREF-GUEST-EXIT: "
    public static let provisionedMarker = "DAXREF-PROVISIONED: "

    public private(set) var booted = false
    public private(set) var exitCode: Int32?
    public private(set) var provisioned: String?
    public private(set) var incidents: [Incident] = []

    private var recent: [String] = []
    private var open: Int?
    private var linesSinceOpen = 0

    public init() {}

    /// True once nothing more needs to be read: the command finished or the kernel panicked.
    public var finished: Bool { exitCode != nil || incidents.contains { $0.fault == .panic } }

    /// Feed one console line (without its newline). Returns a new incident when this line started one.
    @discardableResult
    public mutating func consume(_ rawLine: String) -> Incident? {
        let line = rawLine.filter { $0 != "\r" }
        extendOpenIncident(with: line)
        remember(line)

        if line.contains(Self.bootedMarker) { booted = true }
        if let range = line.range(of: Self.exitMarker) {
            exitCode = Int32(line[range.upperBound...].prefix(while: \.isNumber)) ?? 255
        }
        if let range = line.range(of: Self.provisionedMarker) {
            provisioned = String(line[range.upperBound...])
        }
        guard let fault = Self.fault(in: line) else { return nil }
        // A panic that follows an oops is the same event escalating: keep both, panic wins.
        let incident = Incident(fault: fault, headline: line, excerpt: Array(recent.suffix(4)), beforeInit: !booted)
        incidents.append(incident)
        open = incidents.count - 1
        linesSinceOpen = 0
        return incident
    }

    /// A console line is a kernel message behind a "[   12.345678] " timestamp (or init's own output).
    static func fault(in line: String) -> Fault? {
        var message = Substring(line)
        if message.hasPrefix("["), let close = message.firstIndex(of: "]") {
            message = message[message.index(after: close)...].drop { $0 == " " }
        }
        return KernelLogFindings.fault(in: String(message))
    }

    /// An excerpt runs to the end of the trace ("---[ end trace") or 40 lines, whichever is first.
    private mutating func extendOpenIncident(with line: String) {
        guard let index = open else { return }
        incidents[index].excerpt.append(line)
        linesSinceOpen += 1
        if line.contains("---[ end ") || linesSinceOpen >= 40 { open = nil }
    }

    private mutating func remember(_ line: String) {
        recent.append(line)
        if recent.count > 8 { recent.removeFirst() }
    }
}
