import CZlib
import Foundation
import Tandem
import XCTest

/// Builds PNG files byte by byte — signature, chunks with zlib's CRC-32, a zlib stream made
/// with `compress` — and applies the five row filters itself, so the reader is checked against
/// an encoder that shares none of its code.
enum PNGWriter {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        let crc = typeAndData.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc)
    }

    static func header(width: Int, height: Int, bitDepth: UInt8 = 8, colourType: UInt8, interlace: UInt8 = 0) -> [UInt8] {
        bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colourType, 0, 0, interlace]
    }

    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in compress(o.baseAddress, &length, i.baseAddress, uLong(i.count)) }
        }
        precondition(status == Z_OK)
        return Array(out.prefix(Int(length)))
    }

    static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
    }

    /// Rows of raw samples, each filtered with `filters[row % filters.count]` and prefixed by
    /// its filter byte: the bytes that go into the zlib stream.
    static func filtered(rows: [[UInt8]], bytesPerPixel bpp: Int, filters: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (r, row) in rows.enumerated() {
            let filter = filters[r % filters.count]
            let previous = r > 0 ? rows[r - 1] : [UInt8](repeating: 0, count: row.count)
            out.append(filter)
            for i in row.indices {
                let left = i >= bpp ? Int(row[i - bpp]) : 0, up = Int(previous[i]), upLeft = i >= bpp ? Int(previous[i - bpp]) : 0
                let prediction: Int
                switch filter {
                case 1: prediction = left
                case 2: prediction = up
                case 3: prediction = (left + up) / 2
                case 4: prediction = paeth(left, up, upLeft)
                default: prediction = 0
                }
                out.append(UInt8(truncatingIfNeeded: Int(row[i]) - prediction))
            }
        }
        return out
    }

    /// A complete file.
    static func file(width: Int, height: Int, bitDepth: UInt8 = 8, colourType: UInt8, rows: [[UInt8]],
                     filters: [UInt8] = [0]) -> [UInt8] {
        let channels = [0: 1, 2: 3, 4: 2, 6: 4][Int(colourType)] ?? 1
        let data = filtered(rows: rows, bytesPerPixel: channels * Int(bitDepth) / 8, filters: filters)
        return signature + chunk("IHDR", header(width: width, height: height, bitDepth: bitDepth, colourType: colourType))
            + chunk("IDAT", deflate(data)) + chunk("IEND", [])
    }
}

final class ImageFileTests: XCTestCase {
    /// A deterministic pattern with every kind of neighbour difference, so filters matter.
    func pattern(width: Int, height: Int, channels: Int = 1, seed: UInt64 = 7) -> [[UInt8]] {
        var random = TestRandom(seed: seed)
        return (0..<height).map { _ in (0..<(width * channels)).map { _ in UInt8(truncatingIfNeeded: random.next() >> 13) } }
    }

    /// What the reader must produce: each byte scaled by 1/255, as `Dataset.fill` does.
    func intensities(_ rows: [[UInt8]]) -> [Float] { rows.flatMap { $0.map { Float($0) * (1 / Float(255)) } } }

    // MARK: PGM

    func testPlainPGMWithCommentsAndSmallMaximum() throws {
        let text = "P2\n# made by hand\n3 2 # width height\n15\n0 1 2\n# a comment between rows\n13 14 15\n"
        let image = try ImageFile.decode(Array(text.utf8), path: "hand.pgm")
        XCTAssertEqual(image.width, 3)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.intensities, [0, 1, 2, 13, 14, 15].map { Float($0) * (1 / Float(15)) })
        XCTAssertEqual(image[1, 2], 1, accuracy: 1e-6)
    }

    func testBinaryPGM() throws {
        let pixels: [UInt8] = [0, 10, 128, 200, 255, 32]   // 0x0A and 0x20 look like whitespace: still pixels
        let image = try ImageFile.decode(Array("P5\n3 2\n255\n".utf8) + pixels + [0x0A], path: "raw.pgm")
        XCTAssertEqual(image.width, 3)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.intensities, intensities([pixels]))
    }

    func testPGMFromFileAndAsPNGGiveTheSameImage() throws {
        let rows = pattern(width: 28, height: 28)
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-images")
        let pgm = dir.appendingPathComponent("a.pgm"), png = dir.appendingPathComponent("a.png")
        try TestFiles.write(Array("P5 28 28 255\n".utf8) + rows.flatMap { $0 }, to: pgm)
        try TestFiles.write(PNGWriter.file(width: 28, height: 28, colourType: 0, rows: rows, filters: [4]), to: png)
        let fromPGM = try ImageFile.read(path: pgm.path), fromPNG = try ImageFile.read(path: png.path)
        XCTAssertEqual(fromPGM, fromPNG)
        XCTAssertEqual(fromPGM.intensities, intensities(rows))
    }

    // MARK: PNG

    func testGreyPNGUnfiltered() throws {
        let rows: [[UInt8]] = [[0, 64, 255], [1, 2, 3]]
        let image = try ImageFile.decode(PNGWriter.file(width: 3, height: 2, colourType: 0, rows: rows), path: "g.png")
        XCTAssertEqual(image.width, 3)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.intensities, intensities(rows))
    }

    func testEveryFilterAloneAndMixed() throws {
        let rows = pattern(width: 17, height: 9)
        for filters: [UInt8] in [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4], [4, 3, 2, 1]] {
            let bytes = PNGWriter.file(width: 17, height: 9, colourType: 0, rows: rows, filters: filters)
            XCTAssertEqual(try ImageFile.decode(bytes, path: "f.png").intensities, intensities(rows), "filters \(filters)")
        }
    }

    func testFiltersReachAcrossWholePixelsInRGB() throws {
        // Sub, Average and Paeth look one pixel (3 bytes) back, not one byte: a reader that got
        // this wrong decodes grey images correctly and colour images wrongly.
        let rgb = pattern(width: 5, height: 4, channels: 3, seed: 3)
        let expected = rgb.flatMap { row in stride(from: 0, to: row.count, by: 3).map { i -> Float in
            0.299 * Float(row[i]) / 255 + 0.587 * Float(row[i + 1]) / 255 + 0.114 * Float(row[i + 2]) / 255
        } }
        for filters: [UInt8] in [[0], [1, 3, 4, 2]] {
            let image = try ImageFile.decode(PNGWriter.file(width: 5, height: 4, colourType: 2, rows: rgb, filters: filters), path: "c.png")
            XCTAssertEqual(image.intensities.count, 20)
            for (a, b) in zip(image.intensities, expected) { XCTAssertEqual(a, b, accuracy: 1e-6, "filters \(filters)") }
        }
    }

    func testColourBecomesLumaAndAlphaIsLaidOverBlack() throws {
        // RGBA: opaque white, opaque pure red, half-transparent white, fully transparent white.
        let rgba: [[UInt8]] = [[255, 255, 255, 255, 255, 0, 0, 255, 255, 255, 255, 128, 255, 255, 255, 0]]
        let image = try ImageFile.decode(PNGWriter.file(width: 4, height: 1, colourType: 6, rows: rgba, filters: [1]), path: "a.png")
        XCTAssertEqual(image.intensities[0], 1, accuracy: 1e-6)
        XCTAssertEqual(image.intensities[1], 0.299, accuracy: 1e-6)
        XCTAssertEqual(image.intensities[2], 128 / 255, accuracy: 1e-6)
        XCTAssertEqual(image.intensities[3], 0)
        // Grey + alpha.
        let ga: [[UInt8]] = [[200, 255, 200, 0]]
        let grey = try ImageFile.decode(PNGWriter.file(width: 2, height: 1, colourType: 4, rows: ga), path: "ga.png")
        XCTAssertEqual(grey.intensities, [200 * (1 / Float(255)), 0])
    }

    func testSixteenBitGrey() throws {
        let rows: [[UInt8]] = [[0xFF, 0xFF, 0x80, 0x00, 0x00, 0x01]]
        let image = try ImageFile.decode(PNGWriter.file(width: 3, height: 1, bitDepth: 16, colourType: 0, rows: rows, filters: [1]),
                                         path: "16.png")
        let scale = 1 / Float(65535)
        XCTAssertEqual(image.intensities, [Float(0xFFFF) * scale, Float(0x8000) * scale, scale])
    }

    /// A PNG written by another encoder (gnuplot through cairo and libpng, which picks its own
    /// filters per row), with a known picture: left half red, right half dark grey.
    func testPNGWrittenByGnuplot() throws {
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-gnuplot-png")
        let gnuplot: Gnuplot
        do { gnuplot = try Gnuplot() } catch { throw XCTSkip("gnuplot is not installed") }
        let script = """
            set terminal pngcairo size 64,48 background '#404040'
            set output 'halves.png'
            unset border; unset tics; unset key; set margins 0,0,0,0
            set object 1 rect from screen 0,0 to screen 0.5,1 fillcolor rgb '#FF0000' fillstyle solid noborder
            plot [0:1][0:1] NaN
            """
        try Gnuplot.write(script, to: dir.appendingPathComponent("halves.gp").path)
        try gnuplot.run(script: "halves.gp", in: dir.path)
        let image = try ImageFile.read(path: dir.appendingPathComponent("halves.png").path)
        XCTAssertEqual(image.width, 64)
        XCTAssertEqual(image.height, 48)
        for row in [5, 20, 40] {   // the first and last rows are anti-aliased against the background
            XCTAssertEqual(image[row, 5], 0.299, accuracy: 0.003, "red half, row \(row)")
            XCTAssertEqual(image[row, 60], Float(0x40) / 255, accuracy: 0.003, "grey half, row \(row)")
        }
    }

    func testNearestNeighbourResizing() {
        let small = GreyImage(width: 2, height: 2, intensities: [0.1, 0.2, 0.3, 0.4])
        let big = small.resized(width: 4, height: 4)
        XCTAssertEqual(big.intensities, [0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.3, 0.3, 0.4, 0.4])
        XCTAssertEqual(big.resized(width: 2, height: 2), small)
        XCTAssertEqual(small.resized(width: 1, height: 2).intensities, [0.2, 0.4])
    }

    // MARK: Malformed files

    /// Each broken file must be refused with a one-line `DataError` naming it and the problem.
    func assertRejected(_ bytes: [UInt8], mentions fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageFile.decode(bytes, path: "broken.img"), file: file, line: line) { error in
            guard let dataError = error as? DataError else { return XCTFail("not a DataError: \(error)", file: file, line: line) }
            XCTAssertEqual(dataError.path, "broken.img", file: file, line: line)
            XCTAssertFalse(dataError.description.contains("\n"), "one line: \(dataError)", file: file, line: line)
            XCTAssertTrue(dataError.problem.contains(fragment), "'\(fragment)' missing from: \(dataError)", file: file, line: line)
        }
    }

    func testMalformedPGMs() {
        assertRejected(Array("P5\n3 2\n255\n".utf8) + [1, 2, 3], mentions: "truncated")
        assertRejected(Array("P2\n2 2\n255\n1 2 3\n".utf8), mentions: "truncated")
        assertRejected(Array("P2\n2 1\n255\n1 x\n".utf8), mentions: "'x' is not a non-negative integer")
        assertRejected(Array("P2\n2 1\n100\n1 101\n".utf8), mentions: "above the maximum value 100")
        assertRejected(Array("P2\n2 1\n255\n1 2 3\n".utf8), mentions: "more pixels")
        assertRejected(Array("P5\n2 1\n255\n".utf8) + [1, 2, 3], mentions: "after the 2×1 pixels")
        assertRejected(Array("P5\n2 1\n0\n".utf8) + [0, 0], mentions: "maximum value must be at least 1")
        assertRejected(Array("P5\n2 1\n65535\n".utf8) + [0, 0, 0, 0], mentions: "16-bit")
        assertRejected(Array("P2\n0 5\n255\n".utf8), mentions: "empty image")
        assertRejected(Array("P5\n99999 99999\n255\n".utf8), mentions: "larger than")
        assertRejected(Array("P2\n3\n".utf8), mentions: "ends before its height")
        assertRejected(Array("P5 2 1 255".utf8), mentions: "not followed by the pixel data")
        assertRejected(Array("P6\n1 1\n255\n".utf8) + [1, 2, 3], mentions: "PPM")
        assertRejected(Array("P22 1 255 1 1".utf8), mentions: "not a PGM")
    }

    func testMalformedPNGs() {
        let rows = pattern(width: 4, height: 3)
        let good = PNGWriter.file(width: 4, height: 3, colourType: 0, rows: rows, filters: [2])
        let ihdr = PNGWriter.chunk("IHDR", PNGWriter.header(width: 4, height: 3, colourType: 0))
        let idat = PNGWriter.chunk("IDAT", PNGWriter.deflate(PNGWriter.filtered(rows: rows, bytesPerPixel: 1, filters: [0])))
        let end = PNGWriter.chunk("IEND", [])
        func png(_ chunks: [UInt8]...) -> [UInt8] { PNGWriter.signature + chunks.flatMap { $0 } }

        XCTAssertNoThrow(try ImageFile.decode(png(ihdr, idat, end), path: "ok.png"), "the parts are valid")
        assertRejected(Array(good.prefix(40)), mentions: "truncated PNG")
        assertRejected(Array(good.dropLast(12)), mentions: "no IEND")
        assertRejected(Array(PNGWriter.signature), mentions: "no IHDR")
        var flipped = good
        flipped[45] ^= 0x01   // inside the IDAT data
        assertRejected(flipped, mentions: "CRC mismatch")
        assertRejected(png(idat, ihdr, end), mentions: "first chunk is IDAT")
        assertRejected(png(PNGWriter.chunk("IHDR", [0, 0, 0, 4]), idat, end), mentions: "IHDR holds 4 bytes")
        assertRejected(png(PNGWriter.chunk("IHDR", PNGWriter.header(width: 4, height: 3, colourType: 0, interlace: 1)), idat, end),
                       mentions: "interlaced")
        assertRejected(png(PNGWriter.chunk("IHDR", PNGWriter.header(width: 4, height: 3, colourType: 3)), idat, end),
                       mentions: "palette")
        assertRejected(png(PNGWriter.chunk("IHDR", PNGWriter.header(width: 4, height: 3, bitDepth: 4, colourType: 0)), idat, end),
                       mentions: "4-bit")
        assertRejected(png(PNGWriter.chunk("IHDR", PNGWriter.header(width: 0, height: 3, colourType: 0)), idat, end),
                       mentions: "empty image")
        // A header declaring a huge image over a few bytes of data: refused before allocating.
        assertRejected(png(PNGWriter.chunk("IHDR", PNGWriter.header(width: 4000, height: 4000, bitDepth: 16, colourType: 6)), idat, end),
                       mentions: "cannot hold")
        assertRejected(png(ihdr, end), mentions: "no IDAT")
        assertRejected(png(ihdr, PNGWriter.chunk("IDAT", [0x78, 0x9C, 0x01, 0x02]), end), mentions: "does not decompress")
        let shortData = PNGWriter.chunk("IDAT", PNGWriter.deflate(PNGWriter.filtered(rows: Array(rows.prefix(2)), bytesPerPixel: 1, filters: [0])))
        assertRejected(png(ihdr, shortData, end), mentions: "truncated PNG: image data holds 10 bytes, the header needs 15")
        let longData = PNGWriter.chunk("IDAT", PNGWriter.deflate(PNGWriter.filtered(rows: rows + rows, bytesPerPixel: 1, filters: [0])))
        assertRejected(png(ihdr, longData, end), mentions: "more image data")
        var badFilter = PNGWriter.filtered(rows: rows, bytesPerPixel: 1, filters: [0])
        badFilter[5] = 7   // second row's filter byte
        assertRejected(png(ihdr, PNGWriter.chunk("IDAT", PNGWriter.deflate(badFilter)), end), mentions: "row 1 has unknown filter type 7")
        assertRejected(png(ihdr, PNGWriter.chunk("ABCD", [1]), idat, end), mentions: "critical chunk ABCD")
        XCTAssertNoThrow(try ImageFile.decode(png(ihdr, PNGWriter.chunk("tEXt", Array("a\0b".utf8)), idat, end), path: "ok.png"),
                         "unknown ancillary chunks are skipped")
    }

    func testNeitherFormat() {
        assertRejected([], mentions: "empty")
        assertRejected(Array("hello".utf8), mentions: "not a PGM or PNG image (starts with \"hell\")")
        assertRejected([0xFF, 0xD8, 0xFF, 0xE0], mentions: "not a PGM or PNG")
    }

    func testMissingFile() {
        XCTAssertThrowsError(try ImageFile.read(path: "/nonexistent/x.png")) { error in
            XCTAssertEqual(error as? DataError, DataError("/nonexistent/x.png", "no such file"))
        }
    }

    /// Damaged copies of valid files (truncated anywhere, one byte changed anywhere) must either
    /// decode or be refused with a DataError: never trap.
    func testDamagedFilesNeverCrash() {
        let png = PNGWriter.file(width: 6, height: 5, colourType: 6, rows: pattern(width: 6, height: 5, channels: 4), filters: [4, 1])
        let pgm = Array("P5\n6 5\n255\n".utf8) + pattern(width: 6, height: 5).flatMap { $0 }
        var random = TestRandom(seed: 99)
        var refused = 0
        for original in [png, pgm] {
            var damaged: [[UInt8]] = (0..<original.count).map { Array(original.prefix($0)) }
            for _ in 0..<400 {
                var copy = original
                let at = Int(random.next() % UInt64(copy.count))
                copy[at] = UInt8(truncatingIfNeeded: random.next())
                damaged.append(copy)
            }
            for bytes in damaged {
                do { _ = try ImageFile.decode(bytes, path: "d") } catch is DataError { refused += 1 } catch {
                    XCTFail("not a DataError: \(error)")
                }
            }
        }
        XCTAssertGreaterThan(refused, 200, "most damage is noticed")
    }
}
