import Foundation

/// A plot of lines against one x axis, written as a gnuplot script plus a data file.
///
/// Each series is its own block of the data file (blocks are separated by two blank lines and
/// picked with `index`), so series sampled at different x values never leave holes in each
/// other. Points that cannot be drawn (non-finite, or not positive on a log axis) are dropped
/// here, and series left empty are not plotted at all: gnuplot stops with an error on a plot
/// whose every point is undefined, and a missing validation set must not cost the other curves.
public struct LinePlot {
    /// One point of a series, in the axes' units.
    public struct Point: Equatable {
        /// The point's coordinates.
        public var x: Double, y: Double
        /// The point (`x`, `y`).
        public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
    }

    /// One line of the plot: its points, and how gnuplot draws them.
    public struct Series {
        /// The series' name in the legend.
        public var title: String
        /// The points, in drawing order; those that cannot be drawn are dropped when the plot is written.
        public var points: [Point]
        /// gnuplot's `with ...` clause: line style, width, colour, point type.
        public var style: String
        /// A series titled `title`, drawn with `style`.
        public init(title: String, points: [Point], style: String) {
            self.title = title; self.points = points; self.style = style
        }
    }

    /// A horizontal line across the plot, for a reference value.
    public struct Reference {
        /// The line's height, in the y axis's units.
        public var y: Double
        /// The line's name in the legend.
        public var title: String
        /// A reference line at `y`, titled `title`.
        public init(y: Double, title: String) { self.y = y; self.title = title }
    }

    /// The file name stem: `loss` gives loss.png, loss.gp and loss.dat.
    public var name: String
    /// The plot's title, above it.
    public var title: String
    /// The x axis's label.
    public var xLabel: String
    /// The y axis's label.
    public var yLabel: String
    /// Draw the y axis on a log scale (points that are not positive are then dropped).
    public var logY = false
    /// The lines, in legend order.
    public var series: [Series] = []
    /// Horizontal reference lines, drawn dashed after the series.
    public var references: [Reference] = []
    /// Start the x axis at 0 (epochs), rather than at the first point.
    public var xFromZero = false
    /// gnuplot `set key` arguments.
    public var key = "top right"
    /// The PNG's size in pixels.
    public var width = 960, height = 600
    /// Where the PNG came from, for the script's first comment.
    public var source = ""

    /// An empty plot; add `series` (and `references`) before writing it.
    public init(name: String, title: String, xLabel: String, yLabel: String, logY: Bool = false) {
        self.name = name; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logY = logY
    }

    /// The image gnuplot writes: `name`.png.
    public var pngName: String { name + ".png" }
    /// The script's file name: `name`.gp.
    public var scriptName: String { name + ".gp" }
    /// The data file's name: `name`.dat.
    public var dataName: String { name + ".dat" }

    /// The series as they will be drawn: drawable points only, empty series left out.
    public var drawableSeries: [Series] {
        series.compactMap { s in
            var kept = s
            kept.points = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
            return kept.points.isEmpty ? nil : kept
        }
    }

    /// Whether any series has a point to draw (gnuplot fails on a plot with none).
    public var isDrawable: Bool { !drawableSeries.isEmpty }

    /// One block per drawable series, in the order of `drawableSeries`.
    public var data: String {
        var text = "# \(title)\n# data for \(scriptName); columns: x y; one block per series\n"
        for (i, s) in drawableSeries.enumerated() {
            if i > 0 { text += "\n\n" }
            text += "# \(s.title)\n"
            for p in s.points { text += "\(Gnuplot.number(p.x)) \(Gnuplot.number(p.y))\n" }
        }
        return text
    }

    /// The gnuplot script that draws `pngName` from `dataName`, axis ranges included.
    public var script: String {
        let drawn = drawableSeries
        var lines = [
            "# \(title)" + (source.isEmpty ? "" : ", from \(source)"),
            "# Written by tandem plot. Re-draw with: gnuplot \(scriptName)",
            Gnuplot.pngTerminal(width: width, height: height),
            "set output \(Gnuplot.quoted(pngName))",
            "set title \(Gnuplot.quoted(title))",
            "set xlabel \(Gnuplot.quoted(xLabel))",
            "set ylabel \(Gnuplot.quoted(yLabel))",
            "set grid",
            "set key \(key) box opaque",
        ]
        if logY { lines += ["set logscale y", "set format y '%g'"] }
        let (x, y) = ranges(drawn)
        lines.append("set xrange [\(Gnuplot.number(x.lowerBound)):\(Gnuplot.number(x.upperBound))]")
        lines.append("set yrange [\(Gnuplot.number(y.lowerBound)):\(Gnuplot.number(y.upperBound))]")
        var clauses = drawn.enumerated().map { i, s in
            "\(Gnuplot.quoted(dataName)) index \(i) using 1:2 \(s.style) title \(Gnuplot.quoted(s.title))"
        }
        clauses += references.map { r in
            "\(Gnuplot.number(r.y)) with lines dashtype 2 linewidth 1.5 linecolor rgb '#777777' title \(Gnuplot.quoted(r.title))"
        }
        lines.append("plot " + clauses.joined(separator: ", \\\n     "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Axis ranges computed here rather than by gnuplot's autoscaling, which refuses a range
    /// of zero width (one epoch, one logged step) and would not include the reference lines.
    func ranges(_ drawn: [Series]) -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let xs = drawn.flatMap { $0.points.map(\.x) }
        let ys = drawn.flatMap { $0.points.map(\.y) } + references.map(\.y).filter { !logY || $0 > 0 }
        let x = LinePlot.padded(xs, fraction: 0.03, logarithmic: false, from: xFromZero ? 0 : nil)
        let y = LinePlot.padded(ys, fraction: 0.08, logarithmic: logY, from: nil)
        return (x, y)
    }

    /// The values' range, widened a little; on a log axis, widened to whole decades. With
    /// `start`, the range begins exactly there (or at the lowest value, if lower).
    static func padded(_ values: [Double], fraction: Double, logarithmic: Bool, from start: Double?) -> ClosedRange<Double> {
        guard var low = values.min(), let high = values.max() else { return logarithmic ? 0.1...1 : 0...1 }
        if let start, !logarithmic, start <= low {
            low = start
            return high > low ? low...(high + (high - low) * fraction) : low...(low + 1)
        }
        if logarithmic {
            var lowDecade = (log10(low)).rounded(.down), highDecade = (log10(high)).rounded(.up)
            if lowDecade == highDecade { lowDecade -= 1; highDecade += 1 }
            return pow(10, lowDecade)...pow(10, highDecade)
        }
        let span = high - low
        let pad = span > 0 ? span * fraction : max(abs(high) * 0.1, 0.5)
        return (low - pad)...(high + pad)
    }
}
