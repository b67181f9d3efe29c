extension BenchReport {
    /// A self-contained SVG: per case, horizontal bars for daxref, its peer and the limit (medians,
    /// with a min–max whisker), scaled per case because units differ; the ratio and goal on the right.
    public func renderSVG() -> String {
        let layout = ChartLayout()
        var body: [String] = []
        var y = layout.headerHeight
        for benchCase in cases {
            let (elements, height) = layout.block(benchCase, top: y)
            body += elements
            y += height
        }
        let height = y + 10
        var svg = [
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(layout.width)" height="\#(height)" viewBox="0 0 \#(layout.width) \#(height)" font-family="sans-serif">"#,
            #"<rect width="100%" height="100%" fill="white"/>"#,
            svgText(x: 10, y: 22, "daxref bench", size: 16, weight: "bold"),
            svgText(x: 10, y: 40, environment.summaryLine, size: 11, fill: "#555"),
            svgText(x: 10, y: 56, "medians of \(settings.repetitions) repetitions, whiskers min–max; ratio = daxref ÷ peer", size: 11, fill: "#555"),
        ]
        var legendX = layout.barsX
        for (label, color) in [("daxref", ChartLayout.oursColor), ("peer", ChartLayout.peerColor), ("limit", ChartLayout.limitColor)] {
            svg.append(#"<rect x="\#(legendX)" y="64" width="12" height="12" fill="\#(color)"/>"#)
            svg.append(svgText(x: legendX + 16, y: 74, label, size: 11))
            legendX += 70
        }
        svg += body
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}

struct ChartLayout {
    let width = 1000
    let headerHeight = 90
    /// Left edge of the bars; the case label is left of it.
    let barsX = 380
    let barsWidth = 400
    let ratioX = 880
    let barHeight = 12
    let barPitch = 16

    static let oursColor = "#1f77b4"
    static let peerColor = "#ff7f0e"
    static let limitColor = "#8c8c8c"

    /// The elements of one case and the height it takes.
    func block(_ benchCase: BenchCase, top: Int) -> ([String], Int) {
        var elements = [
            svgText(x: 10, y: top + 12, benchCase.id, size: 12, weight: "bold"),
            svgText(x: 10, y: top + 26, clipped(benchCase.title, 62), size: 10, fill: "#555"),
        ]
        let sides = [(benchCase.ours, Self.oursColor), (benchCase.peer, Self.peerColor), (benchCase.limit, Self.limitColor)]
            .compactMap { side, color in side.map { ($0, color) } }
        guard benchCase.status == .measured else {
            let message = "\(benchCase.status.rawValue): \(benchCase.reason ?? "")"
            elements.append(svgText(x: barsX, y: top + 16, clipped(message, 95), size: 11, fill: benchCase.status == .error ? "#d62728" : "#777"))
            return (elements, 42)
        }
        let scale = sides.compactMap { $0.0.summary?.max }.max() ?? 0
        for (index, (side, color)) in sides.enumerated() {
            let barTop = top + 4 + index * barPitch
            guard let summary = side.summary, scale > 0 else {
                elements.append(svgText(x: barsX, y: barTop + 10, "\(side.label): " + clipped(side.failure ?? "no samples", 70), size: 10, fill: "#777"))
                continue
            }
            let x = { (value: Double) in barsX + Int((value / scale * Double(barsWidth)).rounded()) }
            let middle = barTop + barHeight / 2
            elements.append(#"<rect x="\#(barsX)" y="\#(barTop)" width="\#(max(1, x(summary.median) - barsX))" height="\#(barHeight)" fill="\#(color)"><title>\#(xmlEscaped(side.label))</title></rect>"#)
            if summary.count > 1 {
                elements.append(#"<line x1="\#(x(summary.min))" y1="\#(middle)" x2="\#(x(summary.max))" y2="\#(middle)" stroke="black" stroke-width="1"/>"#)
                for end in [summary.min, summary.max] {
                    elements.append(#"<line x1="\#(x(end))" y1="\#(barTop + 2)" x2="\#(x(end))" y2="\#(barTop + barHeight - 2)" stroke="black" stroke-width="1"/>"#)
                }
            }
            let outcome = side.outcome.map { $0 == "ok" ? "" : " [\($0)]" } ?? ""
            elements.append(svgText(x: x(summary.max) + 6, y: barTop + 10, formatValue(summary.median, benchCase.metric) + outcome, size: 10))
        }
        if let ratio = benchCase.displayRatio {
            let color = benchCase.goalMet.map { $0 ? "#2ca02c" : "#d62728" } ?? "#333"
            elements.append(svgText(x: ratioX, y: top + 14, ratio, size: 13, weight: "bold", fill: color))
            let goal = benchCase.goal.map { "goal \($0)" } ?? "no goal"
            elements.append(svgText(x: ratioX, y: top + 28, goal + (benchCase.metric == .bandwidth ? ", higher is better" : ", lower is better"), size: 9, fill: "#555"))
        }
        let height = max(34, 8 + sides.count * barPitch) + 10
        return (elements, height)
    }

    func clipped(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}

private func svgText(x: Int, y: Int, _ content: String, size: Int, weight: String? = nil, fill: String = "#000") -> String {
    let bold = weight.map { #" font-weight="\#($0)""# } ?? ""
    return #"<text x="\#(x)" y="\#(y)" font-size="\#(size)"\#(bold) fill="\#(fill)">\#(xmlEscaped(content))</text>"#
}
