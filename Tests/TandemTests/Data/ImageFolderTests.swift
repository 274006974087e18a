import Foundation
import Tandem
import XCTest

/// Image folders in torchvision's ImageFolder layout: classes from sorted folder names, grey
/// and colour images as [C, H, W] planes, a test folder that keeps its training classes, and
/// one-line errors naming the file for every way a folder can be wrong.
final class ImageFolderTests: XCTestCase {
    func write(_ bytes: [UInt8], _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    func pgm(_ width: Int, _ height: Int, _ pixels: [UInt8]) -> [UInt8] { Array("P5\n\(width) \(height)\n255\n".utf8) + pixels }

    func samples(_ set: Dataset) -> (x: [Float], y: [Int32]) {
        var x = [Float](repeating: .nan, count: set.count * set.featuresPerSample), y = [Int32](repeating: -1, count: set.count)
        x.withUnsafeMutableBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            set.fill(indices: 0..<set.count, into: xb.baseAddress!, labels: yb.baseAddress!)
        } }
        return (x, y)
    }

    func testClassesAreSortedFolderNamesAndImagesGreyPlanes() throws {
        let root = TandemBinary.temporaryDirectory(self, "folder")
        try write(pgm(2, 2, [0, 51, 102, 255]), root + "/shirt/b.pgm")
        try write(pgm(2, 2, [255, 255, 0, 0]), root + "/shirt/a.pgm")
        try write(PNGWriter.file(width: 2, height: 2, colourType: 0, rows: [[10, 20], [30, 40]]), root + "/bag/1.PNG")
        try write([], root + "/bag/.DS_Store")   // hidden: skipped
        let set = try ImageFolder.load(root)
        XCTAssertEqual(set.classNames, ["bag", "shirt"])
        XCTAssertEqual(set.sampleShape, [1, 2, 2])
        let (x, y) = samples(set)
        XCTAssertEqual(y, [0, 1, 1], "classes in name order, files in name order within each")
        XCTAssertEqual(x, [10, 20, 30, 40, 255, 255, 0, 0, 0, 51, 102, 255].map { Float($0) * (1 / Float(255)) })
    }

    func testColourImagesAreThreePlanesWithAlphaOverBlack() throws {
        let root = TandemBinary.temporaryDirectory(self, "folder")
        // RGB: a red pixel and a blue one; RGBA: white at half opacity and opaque green.
        try write(PNGWriter.file(width: 2, height: 1, colourType: 2, rows: [[255, 0, 0, 0, 0, 255]], filters: [1]), root + "/a/rgb.png")
        try write(PNGWriter.file(width: 2, height: 1, colourType: 6, rows: [[255, 255, 255, 128, 0, 255, 0, 255]]), root + "/b/rgba.png")
        let set = try ImageFolder.load(root)
        XCTAssertEqual(set.sampleShape, [3, 1, 2])
        let half = Float(255) * (1 / Float(255)) * (Float(128) / 255)
        XCTAssertEqual(samples(set).x, [1, 0, 0, 0, 0, 1,          // red plane, green plane, blue plane of rgb.png
                                        half, 0, half, 1, half, 0])  // the same of rgba.png
    }

    func testATestFolderKeepsItsTrainingClasses() throws {
        let root = TandemBinary.temporaryDirectory(self, "folder")
        for name in ["cat", "dog", "eel"] { try write(pgm(1, 1, [9]), root + "/train/\(name)/0.pgm") }
        try write(pgm(1, 1, [9]), root + "/test/eel/0.pgm")
        let train = try ImageFolder.load(root + "/train")
        let test = try ImageFolder.load(root + "/test", classNames: train.classNames, sampleShape: train.sampleShape)
        XCTAssertEqual(samples(test).y, [2], "eel is class 2 of the training folder, not class 0 of the test folder's one")
        XCTAssertEqual(test.classCount, 3)
        try write(pgm(1, 1, [9]), root + "/test/fox/0.pgm")
        XCTAssertThrowsError(try ImageFolder.load(root + "/test", classNames: train.classNames, sampleShape: train.sampleShape)) { error in
            XCTAssertEqual("\(error)", "\(root)/test/fox: is a class the training folder does not have (it has cat, dog, eel)")
        }
    }

    func testBadFoldersAreRefusedInOneLineNamingTheFile() throws {
        let base = TandemBinary.temporaryDirectory(self, "folder")
        func refused(_ setUp: (String) throws -> Void, _ expected: String, line: UInt = #line) throws {
            let root = base + "/case\(line)"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try setUp(root)
            XCTAssertThrowsError(try ImageFolder.load(root), line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), "\(message) should say \(expected)", line: line)
                XCTAssertFalse(message.contains("\n"), line: line)
            }
        }
        try refused({ _ in }, "holds no class folders")
        try refused({ try FileManager.default.createDirectory(atPath: $0 + "/empty", withIntermediateDirectories: true) }, "holds no images")
        try refused({ root in
            try write(pgm(2, 2, [1, 2, 3, 4]), root + "/a/0.pgm"); try write(pgm(3, 2, [1, 2, 3, 4, 5, 6]), root + "/b/0.pgm")
        }, "/b/0.pgm: is a 3×2 grey image, but ")
        try refused({ root in
            try write(pgm(1, 1, [1]), root + "/a/0.pgm")
            try write(PNGWriter.file(width: 1, height: 1, colourType: 2, rows: [[1, 2, 3]]), root + "/a/1.png")
        }, "/a/1.png: is a 1×1 RGB image, but ")
        try refused({ root in try write(pgm(1, 1, [1]), root + "/a/0.pgm"); try write([1, 2], root + "/a/notes.txt") }, "/a/notes.txt: is not a .png or .pgm image")
        try refused({ root in try write(pgm(2, 2, [1]), root + "/a/0.pgm") }, "/a/0.pgm: truncated")
        XCTAssertThrowsError(try ImageFolder.load(base + "/absent")) { XCTAssertEqual("\($0)", "\(base)/absent: no such folder") }
    }
}
