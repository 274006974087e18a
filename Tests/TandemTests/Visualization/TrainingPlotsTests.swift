import Foundation
import Tandem
import XCTest

/// The gnuplot scripts and data drawn from metrics: what is drawn, what is left out, and
/// that the result is something gnuplot accepts.
final class TrainingPlotsTests: XCTestCase {
    func metrics(_ text: String = RunMetricsTests.sample) throws -> RunMetrics {
        try RunMetrics.parse(text, path: "m.jsonl")
    }

    /// The data blocks of a plot's .dat file, as (x, y) rows.
    func blocks(_ data: String) -> [[[Double]]] {
        data.components(separatedBy: "\n\n\n").map { block in
            block.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").compactMap { Double($0) } }
        }
    }

    func testLossPlotDrawsWhatExistsOnAnEpochAxis() throws {
        let plot = TrainingPlots.loss(try metrics(), runName: "run1")
        XCTAssertEqual(plot.drawableSeries.map(\.title),
                       ["training loss (logged steps)", "training loss (epoch mean)", "validation loss", "test loss"])
        let script = plot.script
        XCTAssertTrue(script.contains("set output 'loss.png'"), script)
        XCTAssertTrue(script.contains("set xlabel 'epoch'"), script)
        XCTAssertTrue(script.contains("set ylabel 'loss'"), script)
        XCTAssertTrue(script.contains("set title 'Loss per epoch — run1'"), script)
        XCTAssertFalse(script.contains("logscale"), script)
        // Steps 4 and 8 of 4 per epoch are epochs 1 and 2; the NaN loss of step 6 is left out.
        let data = blocks(plot.data)
        XCTAssertEqual(data.count, 4)
        XCTAssertEqual(data[0], [[0.5, 1.75]])
        XCTAssertEqual(data[1], [[1, 1.5], [2, 1.0]])
        XCTAssertEqual(data[2], [[1, 1.25]])
        XCTAssertTrue(script.contains("'loss.dat' index 3 using 1:2"), script)
        XCTAssertFalse(script.contains("index 4"), script)
    }

    func testAbsentSeriesAreLeftOutNotPlottedEmpty() throws {
        let plot = TrainingPlots.loss(try metrics("{\"event\":\"epoch\",\"epoch\":1,\"train_loss\":0.5}\n"), runName: "r")
        XCTAssertEqual(plot.drawableSeries.map(\.title), ["training loss (epoch mean)"])
        XCTAssertFalse(plot.script.contains("validation"), plot.script)
        XCTAssertFalse(plot.script.contains("test loss"), plot.script)
        // Without steps per epoch, the epoch number is the x value; one point still gets a real range.
        XCTAssertEqual(blocks(plot.data), [[[1, 0.5]]])
        XCTAssertTrue(plot.script.contains("set xrange [0:1.03]"), plot.script)
        let accuracy = TrainingPlots.accuracy(try metrics("{\"event\":\"epoch\",\"epoch\":1,\"train_loss\":0.5}\n"), runName: "r")
        XCTAssertFalse(accuracy.isDrawable)
    }

    func testAccuracyInPercent() throws {
        let plot = TrainingPlots.accuracy(try metrics(), runName: "r")
        XCTAssertEqual(plot.drawableSeries.map(\.title), ["validation accuracy", "test accuracy"])
        XCTAssertEqual(blocks(plot.data), [[[1, 50]], [[1, 62.5]]])
        XCTAssertTrue(plot.script.contains("set ylabel 'accuracy (%)'"), plot.script)
    }

    func testGradientPlotHasALogAxisAndOneLinePerLayer() throws {
        let plot = TrainingPlots.gradients(try metrics(), runName: "r")
        let script = plot.script
        XCTAssertTrue(script.contains("set logscale y"), script)
        XCTAssertTrue(script.contains("set xlabel 'step'"), script)
        XCTAssertTrue(script.contains("title '0: Linear(784 → 256)'"), script)
        XCTAssertTrue(script.contains("title '2: Linear(256 → 10)'"), script)
        XCTAssertTrue(script.contains("title 'all layers (global norm)'"), script)
        let data = blocks(plot.data)
        XCTAssertEqual(data[0], [[2, 1.25], [6, 3]])
        XCTAssertEqual(data[1], [[2, 0.5]])
        // The infinite global norm of step 6 cannot be drawn, so its clipped marker is gone too.
        XCTAssertEqual(data[2], [[2, 1.5]])
        XCTAssertEqual(data.count, 3)
        XCTAssertFalse(script.contains("clipped step"), script)
        XCTAssertTrue(script.contains("set yrange [0.1:10]"), "whole decades around 0.5 ... 3: \(script)")
    }

    func testUpdateRatioPlotDropsZerosOnItsLogAxis() throws {
        let plot = TrainingPlots.updateRatios(try metrics(), runName: "r")
        XCTAssertTrue(plot.script.contains("set logscale y"))
        // Layer 2's only ratio is 0: no line for it rather than an error from gnuplot.
        XCTAssertEqual(plot.drawableSeries.map(\.title), ["0: Linear(784 → 256)"])
        XCTAssertTrue(plot.script.contains("0.001 with lines dashtype 2"), plot.script)
    }

    func testMakeSkipsWhatTheMetricsCannotShow() throws {
        let (plots, skipped) = TrainingPlots.make(from: try metrics("{\"event\":\"epoch\",\"epoch\":1,\"train_loss\":0.5,\"test_accuracy\":0.5}\n"),
                                                  runName: "r", source: "m")
        XCTAssertEqual(plots.map(\.pngName), ["loss.png", "accuracy.png"])
        XCTAssertEqual(skipped.map(\.file), ["gradients.png", "update_ratio.png"])
        XCTAssertTrue(skipped[0].reason.contains("no \"layers\" records"), skipped[0].reason)
    }

    func testQuotingAndRanges() {
        XCTAssertEqual(Gnuplot.quoted("it's"), "'it''s'")
        XCTAssertEqual(Gnuplot.quoted("a\nb"), "'a b'")
        var plot = LinePlot(name: "p", title: "t", xLabel: "x", yLabel: "y")
        plot.series = [LinePlot.Series(title: "s", points: [LinePlot.Point(3, 2)], style: "with points")]
        XCTAssertTrue(plot.script.contains("set xrange [2.5:3.5]"), plot.script)
        XCTAssertTrue(plot.script.contains("set yrange [1.5:2.5]"), plot.script)
        plot.logY = true
        plot.series[0].points = [LinePlot.Point(1, 0.002), LinePlot.Point(2, 0.3), LinePlot.Point(3, -1)]
        XCTAssertTrue(plot.script.contains("set yrange [0.001:1]"), plot.script)
        XCTAssertEqual(plot.drawableSeries[0].points.count, 2)
    }

    /// The generated scripts run: gnuplot accepts them without a warning, and writes PNGs.
    func testGnuplotDrawsTheScripts() throws {
        let gnuplot: Gnuplot
        do { gnuplot = try Gnuplot() } catch { throw XCTSkip("gnuplot is not installed") }
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-plots")
        let (plots, skipped) = TrainingPlots.make(from: try metrics(), runName: "r", source: "m")
        XCTAssertEqual(skipped.count, 0)
        for plot in plots {
            let warnings = try gnuplot.draw(name: plot.name, script: plot.script, data: plot.data, in: dir.path)
            XCTAssertEqual(warnings, [], plot.name)
            let png = try Data(contentsOf: dir.appendingPathComponent(plot.pngName))
            XCTAssertEqual(Array(png.prefix(8)), PNGWriter.signature, plot.name)
        }
    }

    func testGnuplotFailuresAreOneLine() throws {
        let gnuplot: Gnuplot
        do { gnuplot = try Gnuplot() } catch { throw XCTSkip("gnuplot is not installed") }
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-plots")
        XCTAssertThrowsError(try gnuplot.draw(name: "bad", script: "plot 'nonexistent.dat'\n", data: "", in: dir.path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("gnuplot failed on"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        XCTAssertThrowsError(try Gnuplot(command: "/nonexistent/gnuplot")) { error in
            XCTAssertEqual("\(error)", "gnuplot not found at /nonexistent/gnuplot")
        }
        XCTAssertThrowsError(try Gnuplot(command: "no-such-gnuplot-\(UUID().uuidString)")) { error in
            XCTAssertTrue("\(error)".contains("not found on PATH"), "\(error)")
        }
    }
}
