// Inline SVG charts and HTML escaping for the reports and the operator dashboard.
//
// Everything is drawn with SVG presentation attributes (no `style` attributes, no script), so the pages work
// offline and under a strict Content-Security-Policy.

import Foundation

/// HTML/XML text escaping: every piece of recorded text shown in a page goes through here.
public enum HTMLText {
    /// Escapes `& < > " '`, so the result is inert inside element text and quoted attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// One line of a chart.
public struct ChartSeries: Sendable {
    public var label: String
    public var points: [ChartPoint]
    /// An SVG colour, e.g. `#1565c0`.
    public var color: String
    /// Fill the area between the line and zero (or the bottom of the range).
    public var area: Bool
    public var dashed: Bool

    public init(label: String, points: [ChartPoint], color: String, area: Bool = false, dashed: Bool = false) {
        self.label = label
        self.points = points
        self.color = color
        self.area = area
        self.dashed = dashed
    }
}

public struct ChartPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A marker on a line chart: an entry (triangle up) or an exit (triangle down), with a tooltip.
public struct ChartMarker: Sendable {
    public enum Shape: Sendable { case up, down, dot }
    public var point: ChartPoint
    public var shape: Shape
    public var color: String
    public var note: String

    public init(point: ChartPoint, shape: Shape, color: String, note: String) {
        self.point = point
        self.shape = shape
        self.color = color
        self.note = note
    }
}

/// A bar of a bar chart.
public struct ChartBar: Sendable {
    public var label: String
    public var value: Double
    public var color: String

    public init(label: String, value: Double, color: String) {
        self.label = label
        self.value = value
        self.color = color
    }
}

public enum SVGChart {
    /// A line chart whose y axis spans the data's own range (or `yRange`); x is usually Unix seconds.
    public static func line(title: String, series: [ChartSeries], markers: [ChartMarker] = [],
                            width: Double = 900, height: Double = 220, yRange: ClosedRange<Double>? = nil,
                            xLabel: (Double) -> String, yLabel: (Double) -> String) -> String {
        let points = series.flatMap(\.points) + markers.map(\.point)
        guard let x0 = points.map(\.x).min(), let x1 = points.map(\.x).max(),
              series.contains(where: { $0.points.count > 1 }) else {
            return "<p class=\"empty\">\(HTMLText.escape(title)): not enough points to draw.</p>"
        }
        var lo = yRange?.lowerBound ?? (points.map(\.y).min() ?? 0)
        var hi = yRange?.upperBound ?? (points.map(\.y).max() ?? 1)
        if hi - lo < 1e-12 {
            let pad = max(abs(hi) * 0.01, 1e-9)
            lo -= pad
            hi += pad
        }
        let left = 64.0, right = 12.0, top = 22.0, bottom = 22.0
        let xSpan = max(x1 - x0, 1e-12)
        func x(_ v: Double) -> Double { left + (v - x0) / xSpan * (width - left - right) }
        func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTMLText.escape(title))\">"
        svg += "<text x=\"\(f(left))\" y=\"14\" font-size=\"12\" font-weight=\"bold\">\(HTMLText.escape(title))</text>"
        // Legend, right-aligned on the title line.
        var legendX = width - right
        for s in series.reversed() where series.count > 1 {
            let text = HTMLText.escape(s.label)
            legendX -= Double(s.label.count) * 6.5 + 22
            svg += "<rect x=\"\(f(legendX))\" y=\"6\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            svg += "<text x=\"\(f(legendX + 14))\" y=\"15\" font-size=\"11\">\(text)</text>"
        }
        // Grid: top, middle and bottom of the range.
        for v in [hi, (hi + lo) / 2, lo] {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(v)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(v)))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(left - 4))\" y=\"\(f(y(v) + 4))\" font-size=\"10\" text-anchor=\"end\">\(HTMLText.escape(yLabel(v)))</text>"
        }
        if lo < 0 && hi > 0 {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(0)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(0)))\" stroke=\"#999\"/>"
        }
        svg += "<text x=\"\(f(left))\" y=\"\(f(height - 6))\" font-size=\"10\">\(HTMLText.escape(xLabel(x0)))</text>"
        svg += "<text x=\"\(f(width - right))\" y=\"\(f(height - 6))\" font-size=\"10\" text-anchor=\"end\">\(HTMLText.escape(xLabel(x1)))</text>"
        for s in series where !s.points.isEmpty {
            var path = ""
            for (i, p) in s.points.enumerated() { path += "\(i == 0 ? "M" : "L")\(f(x(p.x))),\(f(y(p.y))) " }
            if s.area, let first = s.points.first, let last = s.points.last {
                let base = y(min(max(0, lo), hi))
                svg += "<path d=\"\(path)L\(f(x(last.x))),\(f(base)) L\(f(x(first.x))),\(f(base)) Z\" fill=\"\(s.color)\" fill-opacity=\"0.25\" stroke=\"none\"/>"
            }
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.4\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
        }
        for m in markers {
            let cx = x(m.point.x), cy = y(m.point.y)
            let shape: String
            switch m.shape {
            case .up: shape = "<path d=\"M\(f(cx)),\(f(cy - 6)) L\(f(cx - 5)),\(f(cy + 4)) L\(f(cx + 5)),\(f(cy + 4)) Z\" fill=\"\(m.color)\">"
            case .down: shape = "<path d=\"M\(f(cx)),\(f(cy + 6)) L\(f(cx - 5)),\(f(cy - 4)) L\(f(cx + 5)),\(f(cy - 4)) Z\" fill=\"\(m.color)\">"
            case .dot: shape = "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"3\" fill=\"\(m.color)\">"
            }
            let close = m.shape == .dot ? "</circle>" : "</path>"
            svg += shape + "<title>\(HTMLText.escape(m.note))</title>" + close
        }
        return svg + "</svg>"
    }

    /// A horizontal bar chart (e.g. vetoes by reviewer, violations by check).
    public static func bars(title: String, bars: [ChartBar], width: Double = 900, valueLabel: (Double) -> String) -> String {
        guard !bars.isEmpty else { return "<p class=\"empty\">\(HTMLText.escape(title)): none.</p>" }
        let rowHeight = 20.0, top = 22.0, labelWidth = 200.0
        let height = top + rowHeight * Double(bars.count) + 6
        let peak = max(bars.map { abs($0.value) }.max() ?? 1, 1e-12)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTMLText.escape(title))\">"
        svg += "<text x=\"0\" y=\"14\" font-size=\"12\" font-weight=\"bold\">\(HTMLText.escape(title))</text>"
        for (i, b) in bars.enumerated() {
            let yy = top + Double(i) * rowHeight
            let w = abs(b.value) / peak * (width - labelWidth - 80)
            svg += "<text x=\"\(Int(labelWidth - 6))\" y=\"\(Int(yy + 14))\" font-size=\"11\" text-anchor=\"end\">\(HTMLText.escape(b.label))</text>"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(Int(yy + 3))\" width=\"\(String(format: "%.1f", max(w, 1)))\" height=\"\(Int(rowHeight - 6))\" fill=\"\(b.color)\"/>"
            svg += "<text x=\"\(String(format: "%.1f", labelWidth + max(w, 1) + 4))\" y=\"\(Int(yy + 14))\" font-size=\"11\">\(HTMLText.escape(valueLabel(b.value)))</text>"
        }
        return svg + "</svg>"
    }
}
