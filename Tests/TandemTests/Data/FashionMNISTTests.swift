import Foundation
import XCTest
import Tandem

/// Image/label pairs: the checks that need both files.
final class IDXPairTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self, prefix: "tandem-pair")
    }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try TestFiles.write(try TestFiles.gzip(bytes), to: url)
        return url.path
    }

    private func assertError(naming path: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is DataError, "\(type(of: error))", file: file, line: line)
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(path), "should start with the file: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing from: \(text)", file: file, line: line) }
        }
    }

    func testLoadsValidPairWithScaleAndShape() throws {
        // Two 2×3 images with known bytes, labels 3 and 9.
        let pixels: [UInt8] = [0, 51, 255, 102, 0, 0,
                               255, 255, 0, 1, 2, 3]
        let images = try write("img.gz", IDX.file(dimensions: [2, 2, 3], payload: pixels))
        let labels = try write("lbl.gz", IDX.file(dimensions: [2], payload: [3, 9]))
        let data = try FashionMNIST.load(imagesPath: images, labelsPath: labels, name: "tiny")
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.sampleShape, [1, 2, 3])
        XCTAssertEqual(data.classCount, 10)
        XCTAssertEqual(data.labels, [3, 9])
        var x = [Float](repeating: -1, count: 12), y = [Int32](repeating: -1, count: 2)
        data.fill(indices: [1, 0], into: &x, labels: &y)
        XCTAssertEqual(y, [9, 3])
        // bytes / 255, sample 1 first
        assertClose(x, (Array(pixels[6...]) + Array(pixels[..<6])).map { Double($0) / 255 }, relative: 1e-6)
    }

    func testLabelsWithThreeDimensions() throws {
        let images = try write("img.gz", IDX.images(count: 4, rows: 2, columns: 2))
        let labels = try write("lbl.gz", IDX.file(dimensions: [4, 1, 1], payload: [0, 1, 2, 3]))
        assertError(naming: labels, ["1 dimension", "3"]) {
            _ = try FashionMNIST.load(imagesPath: images, labelsPath: labels, name: "t")
        }
    }

    func testImagesWithTwoDimensions() throws {
        let images = try write("img.gz", IDX.file(dimensions: [4, 4], payload: [UInt8](repeating: 1, count: 16)))
        let labels = try write("lbl.gz", IDX.labels(count: 4))
        assertError(naming: images, ["3 dimensions", "found 2"]) {
            _ = try FashionMNIST.load(imagesPath: images, labelsPath: labels, name: "t")
        }
    }

    func testLabelOutOfRange() throws {
        let images = try write("img.gz", IDX.images(count: 6, rows: 2, columns: 2))
        let labels = try write("lbl.gz", IDX.file(dimensions: [6], payload: [0, 1, 9, 2, 10, 3]))
        assertError(naming: labels, ["label 10", "index 4", "0...9"]) {
            _ = try FashionMNIST.load(imagesPath: images, labelsPath: labels, name: "t")
        }
    }

    func testCountMismatchNamesBothFiles() throws {
        let images = try write("img.gz", IDX.images(count: 5, rows: 2, columns: 2))
        let labels = try write("lbl.gz", IDX.labels(count: 4))
        assertError(naming: labels, ["4", "5", images]) {
            _ = try FashionMNIST.load(imagesPath: images, labelsPath: labels, name: "t")
        }
    }

    func testMissingFilesInDirectory() throws {
        let dir = directory.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try FashionMNIST.load(.train, directory: dir)) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError)
            XCTAssertTrue(text.contains(dir + "/train-images-idx3-ubyte"), text)
            XCTAssertTrue(text.contains("no such file"), text)
        }
    }

    func testDirectoryAcceptsUncompressedFiles() throws {
        let dir = directory.appendingPathComponent("raw")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try TestFiles.write(IDX.images(count: 3), to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try TestFiles.write(IDX.labels(count: 3), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let data = try FashionMNIST.load(.test, directory: dir.path)
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.labels, [0, 1, 2])
        XCTAssertEqual(data.sampleShape, [1, 28, 28])
    }
}

/// The real data set, as Debian's dataset-fashion-mnist installs it.
final class FashionMNISTRealFilesTests: XCTestCase {
    private let directory = FashionMNIST.defaultDirectory

    private func checkFilesPresent() throws {
        let path = directory + "/train-images-idx3-ubyte.gz"
        XCTAssertTrue(FileManager.default.fileExists(atPath: path),
                      "Fashion-MNIST not installed at \(directory) (apt-get install dataset-fashion-mnist)")
    }

    func testTrainSplit() throws {
        try checkFilesPresent()
        let train = try FashionMNIST.load(.train)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(train.sampleShape, [1, 28, 28])
        XCTAssertEqual(train.featuresPerSample, 784)
        XCTAssertEqual(train.classCount, 10)
        XCTAssertEqual(train.classNames.count, 10)
        var histogram = [Int](repeating: 0, count: 10)
        for l in train.labels { histogram[Int(l)] += 1 }
        XCTAssertEqual(histogram, [Int](repeating: 6000, count: 10))

        // Pixels scaled into [0, 1], using the whole range.
        let n = 200
        var x = [Float](repeating: -1, count: n * 784), y = [Int32](repeating: -1, count: n)
        train.fill(indices: 0..<n, into: &x, labels: &y)
        XCTAssertEqual(Array(y), Array(train.labels[0..<n]))
        XCTAssertGreaterThanOrEqual(x.min()!, 0)
        XCTAssertLessThanOrEqual(x.max()!, 1)
        XCTAssertEqual(x.max()!, 1, accuracy: 1e-6, "some pixel is 255")
        XCTAssertEqual(x.min()!, 0, "the background is 0")
        // Every value is a multiple of 1/255.
        for v in x.prefix(2000) { XCTAssertEqual((v * 255).rounded(), v * 255, accuracy: 1e-3) }
    }

    func testTestSplit() throws {
        try checkFilesPresent()
        let test = try FashionMNIST.load(.test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.sampleShape, [1, 28, 28])
        XCTAssertEqual(test.classCount, 10)
        var histogram = [Int](repeating: 0, count: 10)
        for l in test.labels { histogram[Int(l)] += 1 }
        XCTAssertEqual(histogram, [Int](repeating: 1000, count: 10))
    }
}
