import XCTest
import Tandem

final class FloatBufferTests: XCTestCase {
    func testReserveGrowsOnlyWhenNeeded() {
        let buffer = FloatBuffer(capacity: 10)
        XCTAssertEqual(buffer.capacity, 10)
        let original = buffer.pointer
        buffer.reserve(4)
        XCTAssertEqual(buffer.capacity, 10, "a smaller request must not shrink the buffer")
        XCTAssertEqual(buffer.pointer, original, "a request that fits must not reallocate")
        buffer.reserve(10)
        XCTAssertEqual(buffer.pointer, original)
        buffer.reserve(25)
        XCTAssertGreaterThanOrEqual(buffer.capacity, 25)
        // The whole new capacity is usable (and starts initialised).
        for i in 0..<25 { buffer.pointer[i] = Float(i) }
        XCTAssertEqual(buffer.pointer[24], 24)
    }

    func testEmptyBufferHasUsableStorage() {
        let buffer = FloatBuffer()
        XCTAssertGreaterThanOrEqual(buffer.capacity, 1)
        buffer.reserve(3)
        XCTAssertGreaterThanOrEqual(buffer.capacity, 3)
    }

    func testFill() {
        let buffer = FloatBuffer(capacity: 12)
        buffer.fill(2.5, count: 12)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: buffer.pointer, count: 12)), [Float](repeating: 2.5, count: 12))
    }

    func testTensorFromBufferGrowsIt() {
        let buffer = FloatBuffer(capacity: 2)
        let t = buffer.tensor([3, 4])
        XCTAssertEqual(t.shape, [3, 4])
        XCTAssertGreaterThanOrEqual(buffer.capacity, 12)
        t[flat: 11] = 7
        XCTAssertEqual(buffer.pointer[11], 7, "the tensor is a view of the buffer")
    }
}

final class TensorTests: XCTestCase {
    func testShapeAccessors() {
        let t = Tensor(shape: [2, 3, 4], values: (0..<24).map(Float.init))
        XCTAssertEqual(t.count, 24)
        XCTAssertEqual(t.batch, 2)
        XCTAssertEqual(t.featuresPerSample, 12)
        XCTAssertEqual(t.scalars, (0..<24).map(Float.init))
        XCTAssertEqual(t[flat: 13], 13)
    }

    func testZerosAndReshape() {
        let z = Tensor.zeros([3, 2])
        XCTAssertEqual(z.scalars, [0, 0, 0, 0, 0, 0])
        let t = Tensor(shape: [2, 6], values: (1...12).map(Float.init))
        let r = t.reshaped([4, 3])
        XCTAssertEqual(r.shape, [4, 3])
        XCTAssertEqual(r.scalars, t.scalars)
        r[flat: 0] = -1
        XCTAssertEqual(t[flat: 0], -1, "a reshape shares storage")
    }
}
