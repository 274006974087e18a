import Foundation

/// How often each true class was predicted as each class: rows are true classes, columns
/// predicted ones, so the diagonal holds the correct answers and every other cell a kind of
/// mistake (for Fashion-MNIST, typically shirts taken for T-shirts, pullovers and coats).
public struct ConfusionMatrix: Equatable {
    /// The classes' names, in label order: the rows' and the columns' labels.
    public let classNames: [String]
    /// `counts[trueClass][predictedClass]`.
    public private(set) var counts: [[Int]]

    /// An all-zero matrix over `classNames`.
    public init(classNames: [String]) {
        self.classNames = classNames
        counts = Array(repeating: Array(repeating: 0, count: classNames.count), count: classNames.count)
    }

    /// Number of classes: the matrix is `classCount` × `classCount`.
    public var classCount: Int { classNames.count }
    /// Samples counted.
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    /// Samples predicted correctly: the sum of the diagonal.
    public var correct: Int { (0..<classCount).reduce(0) { $0 + counts[$1][$1] } }
    /// Fraction of samples predicted correctly, in [0, 1] (0 when none were counted).
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    /// The largest cell, which sets the top of the colour scale.
    public var largestCount: Int { counts.joined().max() ?? 0 }

    /// Counts one sample of class `trueClass` predicted as `predicted`.
    public mutating func add(trueClass: Int, predicted: Int) {
        counts[trueClass][predicted] += 1
    }

    /// The model's prediction (the largest output) for every sample of `dataset`, counted.
    public static func evaluate(_ model: Model, on dataset: DataSource, chunk: Int = 256) throws -> ConfusionMatrix {
        var matrix = ConfusionMatrix(classNames: dataset.classNames)
        for (truth, predicted) in try predictions(of: model, on: dataset, chunk: chunk) {
            matrix.add(trueClass: truth, predicted: predicted)
        }
        return matrix
    }

    /// (true class, predicted class) of every sample of a data set of one class per sample, in
    /// order. Runs in chunks so memory stays small whatever the data set's size.
    public static func predictions(of model: Model, on dataset: DataSource, chunk: Int = 256) throws -> [(truth: Int, predicted: Int)] {
        let inputs = model.inputShape.reduce(1, *), outputs = model.outputShape.reduce(1, *)
        guard inputs == dataset.featuresPerSample else {
            throw PlotError("the model takes \(model.inputShape) inputs, \(dataset.name) has \(dataset.sampleShape)")
        }
        guard case .classes(let classes, 1) = dataset.targetKind, outputs == classes else {
            throw PlotError("the model has \(outputs) outputs, \(dataset.name) does not have that many classes, one per sample")
        }
        var result: [(truth: Int, predicted: Int)] = []
        let batch = BatchBuffer()
        var start = 0
        while start < dataset.count {
            let end = min(start + chunk, dataset.count)
            try batch.fill(from: dataset, indices: Array(start..<end)[...]) { x, targets in
                let y = try model.forward(x, context: .evaluation)
                for row in 0..<(end - start) {
                    result.append((Int(targets.classes[row]), argmax(y.pointer + row * outputs, count: outputs)))
                }
            }
            start = end
        }
        return result
    }

    /// The index of the largest value; the first of equals; 0 if none compares (all NaN).
    public static func argmax(_ values: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for i in 1..<max(count, 1) where values[i] > values[best] { best = i }
        return best
    }

    /// The counts as gnuplot's `matrix` data: one line per true class.
    public var data: String {
        "# confusion matrix: rows = true class, columns = predicted class, in the order\n# "
            + classNames.joined(separator: ", ") + "\n"
            + counts.map { $0.map(String.init).joined(separator: " ") }.joined(separator: "\n") + "\n"
    }

    /// A heat map with the count written in every cell, true classes down the side (first at
    /// the top, as a table is read) and predicted classes along the bottom.
    public func script(name: String = "confusion", title: String, source: String = "") -> String {
        let n = classCount, largest = max(largestCount, 1)
        let tics = classNames.enumerated().map { "\(Gnuplot.quoted($1)) \($0)" }.joined(separator: ", ")
        let data = Gnuplot.quoted(name + ".dat")
        // Counts in the darker half of the colour scale are written in white to stay legible.
        let threshold = Double(largest) / 2
        return [
            "# \(title)" + (source.isEmpty ? "" : ", from \(source)"),
            "# Written by tandem plot. Re-draw with: gnuplot \(name).gp",
            Gnuplot.pngTerminal(width: 900, height: 820),
            "set output \(Gnuplot.quoted(name + ".png"))",
            "set title \(Gnuplot.quoted(title))",
            "set xlabel 'predicted class'",
            "set ylabel 'true class'",
            "set cblabel 'test samples'",
            "set size square",
            "unset key",
            "set xrange [-0.5:\(Double(n) - 0.5)]",
            "set yrange [\(Double(n) - 0.5):-0.5]",
            "set xtics (\(tics)) rotate by 40 right scale 0",
            "set ytics (\(tics)) scale 0",
            "set cbrange [0:\(largest)]",
            "set palette defined (0 '#FFFFFF', 1 '#C6DBEF', 2 '#6BAED6', 3 '#2171B5', 4 '#08306B')",
            "plot \(data) matrix using 1:2:3 with image, \\",
            "     \(data) matrix using 1:2:($3 > \(threshold) ? sprintf('%d', $3) : '') with labels textcolor rgb 'white', \\",
            "     \(data) matrix using 1:2:($3 <= \(threshold) ? sprintf('%d', $3) : '') with labels textcolor rgb 'black'",
        ].joined(separator: "\n") + "\n"
    }
}
