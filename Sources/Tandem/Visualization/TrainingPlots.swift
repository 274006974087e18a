import Foundation

/// The plots drawn from a run's metrics: learning curves (loss, accuracy) to see under- and
/// overfitting, per-layer gradient norms to see vanishing and exploding gradients, and
/// update-to-weight ratios to see a learning rate that is too high or too low.
public enum TrainingPlots {
    /// A plot that was left out, and why (printed as a note rather than failing the rest).
    public struct Skipped {
        /// The PNG that was not drawn.
        public var file: String
        /// Why it was not, as a note for the user.
        public var reason: String
    }

    /// Every plot the metrics allow, and a note for each one they do not.
    public static func make(from metrics: RunMetrics, runName: String, source: String)
        -> (plots: [LinePlot], skipped: [Skipped]) {
        var plots: [LinePlot] = [], skipped: [Skipped] = []
        let noLayers = "metrics.jsonl has no \"layers\" records (rank 0 writes them every --log-every steps)"
        let candidates: [(LinePlot, String)] = [
            (loss(metrics, runName: runName), "metrics.jsonl has no finite loss values (no epoch or step records yet)"),
            (accuracy(metrics, runName: runName), "metrics.jsonl has no accuracy values (epoch records without validation or test accuracy)"),
            (gradients(metrics, runName: runName), metrics.layerRecords.isEmpty ? noLayers
                : "the \"layers\" records hold no positive, finite gradient norms"),
            (updateRatios(metrics, runName: runName), metrics.layerRecords.isEmpty ? noLayers
                : "the \"layers\" records hold no positive update ratios (no step has changed the weights)"),
        ]
        for (plot, reason) in candidates {
            var plot = plot
            plot.source = source
            if plot.isDrawable { plots.append(plot) } else { skipped.append(Skipped(file: plot.pngName, reason: reason)) }
        }
        return (plots, skipped)
    }

    // Colours that stay apart in print and for common colour blindness (Okabe–Ito).
    static let trainColour = "#0072B2", validationColour = "#E69F00", testColour = "#009E73"

    /// Epochs on the x axis. With the run's steps per epoch known, every record is placed at
    /// step / steps-per-epoch, so per-step training losses and a last, partial epoch fall where
    /// they belong; without it (hand-written metrics), at the epoch number.
    /// A run that ended inside its first epoch is drawn against steps.
    static func epochAxis(_ metrics: RunMetrics) -> (RunMetrics.EpochRecord) -> Double {
        { record in
            if metrics.withinFirstEpoch, let step = record.step { return Double(step) }
            if let perEpoch = metrics.stepsPerEpoch, perEpoch > 0, let step = record.step {
                return Double(step) / Double(perEpoch)
            }
            return Double(record.epoch)
        }
    }

    static func epochSeries(_ metrics: RunMetrics, title: String, colour: String, scale: Double = 1,
                            _ value: (RunMetrics.EpochRecord) -> Double?) -> LinePlot.Series {
        let x = epochAxis(metrics)
        let points = metrics.epochs.compactMap { r in value(r).map { LinePlot.Point(x(r), $0 * scale) } }
        return LinePlot.Series(title: title, points: points,
                               style: "with linespoints linewidth 2 pointtype 7 pointsize 1.1 linecolor rgb '\(colour)'")
    }

    /// Training, validation and test loss per epoch (against steps for a run shorter than one epoch), with
    /// the logged steps' training losses behind them.
    public static func loss(_ metrics: RunMetrics, runName: String) -> LinePlot {
        let bySteps = metrics.withinFirstEpoch
        var plot = LinePlot(name: "loss", title: (bySteps ? "Loss — " : "Loss per epoch — ") + runName,
                            xLabel: bySteps ? "step" : "epoch", yLabel: "loss")
        plot.xFromZero = true
        if let perEpoch = metrics.stepsPerEpoch, perEpoch > 0 {
            let points = metrics.steps.map { LinePlot.Point(Double($0.step) / Double(bySteps ? 1 : perEpoch), $0.loss) }
            plot.series.append(LinePlot.Series(title: "training loss (logged steps)", points: points,
                                               style: "with lines linewidth 1 linecolor rgb '#9ECAE1'"))
        }
        // Inside the first epoch an "epoch mean" is the mean since the start: not drawn.
        if !bySteps { plot.series.append(epochSeries(metrics, title: "training loss (epoch mean)", colour: trainColour) { $0.trainLoss }) }
        plot.series += [
            epochSeries(metrics, title: "validation loss", colour: validationColour) { $0.validationLoss },
            epochSeries(metrics, title: "test loss", colour: testColour) { $0.testLoss },
        ]
        return plot
    }

    /// Training, validation and test accuracy in percent, per epoch (or against steps inside the first epoch).
    public static func accuracy(_ metrics: RunMetrics, runName: String) -> LinePlot {
        let bySteps = metrics.withinFirstEpoch
        var plot = LinePlot(name: "accuracy", title: (bySteps ? "Accuracy — " : "Accuracy per epoch — ") + runName,
                            xLabel: bySteps ? "step" : "epoch", yLabel: "accuracy (%)")
        plot.key = "bottom right"
        plot.xFromZero = true
        plot.series = [
            epochSeries(metrics, title: "training accuracy", colour: trainColour, scale: 100) { $0.trainAccuracy },
            epochSeries(metrics, title: "validation accuracy", colour: validationColour, scale: 100) { $0.validationAccuracy },
            epochSeries(metrics, title: "test accuracy", colour: testColour, scale: 100) { $0.testAccuracy },
        ]
        return plot
    }

    /// One series per layer, in layer order, titled with the layer's latest name.
    static func layerSeries(_ metrics: RunMetrics, _ value: (RunMetrics.LayerSample) -> Double) -> [LinePlot.Series] {
        var names: [Int: String] = [:], points: [Int: [LinePlot.Point]] = [:]
        for record in metrics.layerRecords {
            for layer in record.layers {
                names[layer.index] = layer.name
                points[layer.index, default: []].append(LinePlot.Point(Double(record.step), value(layer)))
            }
        }
        // Markers help read a few records; on a long run they only bury the lines.
        let style = metrics.layerRecords.count <= 40 ? "with linespoints linewidth 2 pointtype 7 pointsize 0.5"
                                                     : "with lines linewidth 2"
        return points.keys.sorted().map { index in
            LinePlot.Series(title: names[index] ?? "layer \(index)", points: points[index] ?? [], style: style)
        }
    }

    /// Each layer's gradient L2 norm against the step on a log scale, with the global norm and the clipped steps.
    public static func gradients(_ metrics: RunMetrics, runName: String) -> LinePlot {
        var plot = LinePlot(name: "gradients", title: "Gradient norm per layer — \(runName)",
                            xLabel: "step", yLabel: "gradient L2 norm (log scale)", logY: true)
        plot.key = "outside right top"
        plot.series = layerSeries(metrics) { $0.gradientNorm }
        if !plot.series.isEmpty {
            let global = metrics.layerRecords.compactMap { r in r.globalNorm.map { LinePlot.Point(Double(r.step), $0) } }
            plot.series.append(LinePlot.Series(title: "all layers (global norm)", points: global,
                                               style: "with lines linewidth 2 dashtype 3 linecolor rgb 'black'"))
            let clipped = metrics.layerRecords.filter(\.clipped).compactMap { r in r.globalNorm.map { LinePlot.Point(Double(r.step), $0) } }
            plot.series.append(LinePlot.Series(title: "clipped step", points: clipped,
                                               style: "with points pointtype 6 pointsize 1.6 linecolor rgb '#D55E00'"))
        }
        widenForLegend(&plot)
        return plot
    }

    /// Layer names (a convolution's runs to 40 characters) sit in a legend beside the plot;
    /// the image grows with them so the plot itself keeps its width.
    static func widenForLegend(_ plot: inout LinePlot) {
        let longest = (plot.series.map(\.title) + plot.references.map(\.title)).map(\.count).max() ?? 0
        plot.width = 820 + 9 * longest
    }

    /// Each layer's update-to-weight ratio against the step on a log scale, with the typical 1e-3 marked.
    public static func updateRatios(_ metrics: RunMetrics, runName: String) -> LinePlot {
        var plot = LinePlot(name: "update_ratio", title: "Update-to-weight ratio per layer — \(runName)",
                            xLabel: "step", yLabel: "‖Δθ‖ / ‖θ‖ per step (log scale)", logY: true)
        plot.key = "outside right top"
        plot.series = layerSeries(metrics) { $0.updateRatio }
        // About 1e-3 is the usual healthy value: far above, the learning rate is too high; far
        // below, the layer barely learns. Drawn only when there is something to compare.
        if plot.isDrawable { plot.references = [LinePlot.Reference(y: 1e-3, title: "typical 1e-3")] }
        widenForLegend(&plot)
        return plot
    }
}
