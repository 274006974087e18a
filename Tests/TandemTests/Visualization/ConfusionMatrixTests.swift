import Foundation
import Tandem
import XCTest

final class ConfusionMatrixTests: XCTestCase {
    func testCountsRowsAsTrueAndColumnsAsPredicted() {
        var m = ConfusionMatrix(classNames: ["a", "b", "c"])
        m.add(trueClass: 0, predicted: 0)
        m.add(trueClass: 0, predicted: 2)
        m.add(trueClass: 1, predicted: 1)
        m.add(trueClass: 2, predicted: 2)
        XCTAssertEqual(m.counts, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
        XCTAssertEqual(m.total, 4)
        XCTAssertEqual(m.correct, 3)
        XCTAssertEqual(m.accuracy, 0.75)
        XCTAssertEqual(m.largestCount, 1)
        XCTAssertTrue(m.data.hasSuffix("1 0 1\n0 1 0\n0 0 1\n"), m.data)
    }

    func testArgmaxTakesTheFirstOfEqualsAndSurvivesNaN() {
        var values: [Float] = [0.1, 0.7, 0.7, 0.2]
        XCTAssertEqual(ConfusionMatrix.argmax(&values, count: 4), 1)
        values = [.nan, .nan]
        XCTAssertEqual(ConfusionMatrix.argmax(&values, count: 2), 0)
    }

    /// A model whose prediction is known: an identity layer predicts the largest input.
    func testEvaluateCountsTheModelsPredictions() throws {
        let model = try ModelSpec("linear:3").build(inputShape: [3])
        model.arena.setValues([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
        let features: [Float] = [0.9, 0.1, 0,   // predicted 0, label 0
                                 0, 0.8, 0.1,   // predicted 1, label 1
                                 0, 0.2, 0.7,   // predicted 2, label 1
                                 0.3, 0, 0.1,   // predicted 0, label 2
                                 0, 0, 1]       // predicted 2, label 2
        let data = Dataset(name: "toy", sampleShape: [3], classCount: 3, classNames: ["x", "y", "z"],
                           storage: .floats(features), labels: [0, 1, 1, 2, 2])
        for chunk in [1, 2, 256] {
            let m = try ConfusionMatrix.evaluate(model, on: data, chunk: chunk)
            XCTAssertEqual(m.counts, [[1, 0, 0], [0, 1, 1], [1, 0, 1]], "chunk \(chunk)")
            XCTAssertEqual(m.classNames, ["x", "y", "z"])
        }
        let wrong = Dataset(name: "wide", sampleShape: [4], classCount: 3, storage: .floats([0, 0, 0, 0]), labels: [0])
        XCTAssertThrowsError(try ConfusionMatrix.evaluate(model, on: wrong)) { error in
            XCTAssertTrue("\(error)".contains("the model takes [3] inputs"), "\(error)")
        }
    }

    func testScriptNamesEveryClassOnBothAxes() {
        var m = ConfusionMatrix(classNames: FashionMNIST.classNames)
        for c in 0..<10 { m.add(trueClass: c, predicted: c) }
        m.add(trueClass: 6, predicted: 0)
        let script = m.script(title: "Confusion 'test'")
        XCTAssertTrue(script.contains("set title 'Confusion ''test'''"), script)
        XCTAssertTrue(script.contains("set xlabel 'predicted class'"), script)
        XCTAssertTrue(script.contains("set ylabel 'true class'"), script)
        XCTAssertTrue(script.contains("set cblabel 'test samples'"), script)
        XCTAssertTrue(script.contains("'confusion.dat' matrix using 1:2:3 with image"), script)
        for (i, name) in FashionMNIST.classNames.enumerated() {
            let tic = "'\(name)' \(i)"
            XCTAssertEqual(script.components(separatedBy: tic).count - 1, 2, "\(name) on both axes")
        }
        XCTAssertTrue(script.contains("set yrange [9.5:-0.5]"), "first class at the top: \(script)")
    }
}
