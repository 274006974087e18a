import CKernels

/// Turning a convolution into one matrix product, and back.
///
/// `unfold` (im2col) lays every window of N samples side by side as the columns of one matrix:
///
///     cols[(c·k + kh)·k + kw, n·P + oh·Wo + ow] = x[n, c, oh·s − p + kh, ow·s − p + kw]   (0 in the padding)
///
/// with P = Ho·Wo, so the convolution of those samples is W[out, C·k·k] × cols[C·k·k, N·P].
/// `foldAdding` (col2im) is its adjoint: it adds every column entry back onto the input
/// position it was read from, turning the gradient of the columns into that of the input.
///
/// Both work on a *padded* copy of the input ([N, C, H + 2p, W + 2p], zeros around), made by
/// `pad` (and undone by `crop`). With the padding materialised, every window row is in range,
/// so the inner loops are plain copies of Wo values with no bounds tests: for stride 1 each
/// is a few eight-lane moves. The loops visit one input plane at a time and handle all its
/// k·k taps while it sits in L1; the column matrix is then written (read) as k·k sequential
/// streams. Stride 2 (the resnet's downsampling) has vector kernels of its own (`stride2.c`).
enum Im2Col {
    /// padded[n, c] = x[n, c] surrounded by `padding` zeros on every side.
    static func pad(_ x: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                    into padded: UnsafeMutablePointer<Float>) {
        let p = g.padding, width = g.width, paddedWidth = g.width + 2 * p
        let paddedPlane = (g.height + 2 * p) * paddedWidth
        for plane in 0..<(count * g.channels) {
            let source = x + plane * g.inputPlane
            let destination = padded + plane * paddedPlane
            destination.update(repeating: 0, count: p * paddedWidth + p)   // top rows and the first left margin
            for i in 0..<g.height {
                let row = destination + (p + i) * paddedWidth + p
                row.update(from: source + i * width, count: width)
                // This row's right margin and the next row's left margin are adjacent.
                (row + width).update(repeating: 0, count: 2 * p)
            }
            // Bottom rows (the last right margin was written above).
            let bottom = destination + (p + g.height) * paddedWidth + p
            bottom.update(repeating: 0, count: p * paddedWidth - p)
        }
    }

    /// dx[n, c] = the interior of padded[n, c]: the gradient that reached real input positions.
    static func crop(_ padded: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                     into dx: UnsafeMutablePointer<Float>) {
        let p = g.padding, paddedWidth = g.width + 2 * p
        let paddedPlane = (g.height + 2 * p) * paddedWidth
        for plane in 0..<(count * g.channels) {
            let source = padded + plane * paddedPlane + p * paddedWidth + p
            let destination = dx + plane * g.inputPlane
            for i in 0..<g.height {
                (destination + i * g.width).update(from: source + i * paddedWidth, count: g.width)
            }
        }
    }

    /// im2col of `count` samples of a padded input (see `pad`; with no padding, the input itself).
    static func unfold(_ padded: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                       into cols: UnsafeMutablePointer<Float>) {
        let s = g.stride, outWidth = g.outputWidth
        forEachWindowRow(samples: count, geometry: g) { from, to in
            if s == 1 {
                copy(padded + from, to: cols + to, count: outWidth)
            } else if s == 2 {
                tandem_copy_even(padded + from, cols + to, outWidth)
            } else {
                for ow in 0..<outWidth { cols[to + ow] = padded[from + ow * s] }
            }
        }
    }

    /// col2im: paddedGradient[n, c, …] += every column entry, at the padded position `unfold`
    /// read it from. The caller zeroes `paddedGradient` first and crops it afterwards.
    static func foldAdding(_ cols: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                           into paddedGradient: UnsafeMutablePointer<Float>) {
        let s = g.stride, outWidth = g.outputWidth
        forEachWindowRow(samples: count, geometry: g) { to, from in
            if s == 1 {
                add(cols + from, to: paddedGradient + to, count: outWidth)
            } else if s == 2 {
                tandem_add_to_even(cols + from, paddedGradient + to, outWidth)
            } else {
                for ow in 0..<outWidth { paddedGradient[to + ow * s] += cols[from + ow] }
            }
        }
    }

    /// The traversal `unfold` and `foldAdding` share. For every tap (kh, kw) of every channel
    /// plane of every sample, and every output row oh, `row` receives the offset in the padded
    /// planes of that row's first window position (the next ones lie `stride` apart) and the
    /// offset in the column matrix of the Wo outputs it corresponds to. One plane's k·k taps are
    /// visited together, while the plane sits in L1; the column matrix is streamed k·k rows at
    /// a time.
    @inline(__always)
    private static func forEachWindowRow(samples count: Int, geometry g: WindowGeometry,
                                         _ row: (_ plane: Int, _ columns: Int) -> Void) {
        let k = g.kernel, s = g.stride
        let paddedWidth = g.width + 2 * g.padding, paddedPlane = (g.height + 2 * g.padding) * paddedWidth
        let outHeight = g.outputHeight, outWidth = g.outputWidth, plane = g.outputPlane
        let rowLength = count * plane
        for c in 0..<g.channels {
            for n in 0..<count {
                let planeStart = (n * g.channels + c) * paddedPlane
                var tap = c * k * k
                for kh in 0..<k {
                    for kw in 0..<k {
                        let origin = planeStart + kh * paddedWidth + kw
                        let destination = tap * rowLength + n * plane
                        for oh in 0..<outHeight { row(origin + oh * s * paddedWidth, destination + oh * outWidth) }
                        tap += 1
                    }
                }
            }
        }
    }

    // MARK: - Short rows
    // Rows here are short (Wo is 7 to 28 for images like Fashion-MNIST), where a generic loop's
    // set-up and scalar remainder cost more than the work. Eight-lane moves with one final,
    // possibly overlapping, vector handle any length ≥ 8 in ⌈n/8⌉ steps.

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    private static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// destination[0..<count] = source[0..<count] (the ranges do not overlap).
    @inline(__always)
    static func copy(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= 8 else {
            for j in 0..<count { destination[j] = source[j] }
            return
        }
        var j = 0
        while j + 8 < count { store(load(source + j), destination + j); j += 8 }
        // Re-writing a few values with the same data is harmless.
        store(load(source + count - 8), destination + count - 8)
    }

    /// destination[0..<count] += source[0..<count] (the ranges do not overlap). The remainder is
    /// scalar: an overlapping last vector, as in `copy`, would have to reload values it has just
    /// stored, and that store-to-load stall costs more than a few scalar adds.
    @inline(__always)
    static func add(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        var j = 0
        while j + 8 <= count { store(load(destination + j) + load(source + j), destination + j); j += 8 }
        while j < count { destination[j] += source[j]; j += 1 }
    }
}
