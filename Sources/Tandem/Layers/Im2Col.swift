/// Turning a convolution into one matrix product, and back.
///
/// `unfold` (im2col) lays every window of a batch side by side as the columns of one matrix:
///
///     cols[(c·k + kh)·k + kw, n·P + oh·Wo + ow] = x[n, c, oh·s − p + kh, ow·s − p + kw]   (0 in the padding)
///
/// with P = Ho·Wo, so the whole batch's convolution is W[out, C·k·k] × cols[C·k·k, N·P]. Each
/// matrix row is written front to back in one sweep, which keeps the (large) column workspace
/// a sequential stream while the (small) input planes it reads stay in cache.
///
/// `foldAdding` (col2im) is the adjoint: it adds each column entry back onto the input position
/// it was read from, which turns the gradient of the columns into the gradient of the input.
enum Im2Col {
    static func unfold(_ x: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                       into cols: UnsafeMutablePointer<Float>) {
        let k = g.kernel, s = g.stride, width = g.width
        let outHeight = g.outputHeight, outWidth = g.outputWidth, plane = g.outputPlane
        let rowLength = count * plane, sampleStride = g.channels * g.inputPlane
        var row = 0
        for c in 0..<g.channels {
            for kh in 0..<k {
                let rows = g.validRows(kh: kh)
                let rowShift = kh - g.padding
                for kw in 0..<k {
                    let columns = g.validColumns(kw: kw)
                    let columnShift = kw - g.padding
                    let destinationRow = cols + row * rowLength
                    for n in 0..<count {
                        let source = x + n * sampleStride + c * g.inputPlane
                        let destination = destinationRow + n * plane
                        // Output rows whose window row falls in the top or bottom padding.
                        destination.update(repeating: 0, count: rows.lowerBound * outWidth)
                        (destination + rows.upperBound * outWidth)
                            .update(repeating: 0, count: (outHeight - rows.upperBound) * outWidth)
                        for oh in rows {
                            let sourceRow = source + (oh * s + rowShift) * width
                            let d = destination + oh * outWidth
                            for ow in 0..<columns.lowerBound { d[ow] = 0 }
                            if s == 1 {
                                let shifted = sourceRow + columnShift
                                for ow in columns { d[ow] = shifted[ow] }
                            } else {
                                for ow in columns { d[ow] = sourceRow[ow * s + columnShift] }
                            }
                            for ow in columns.upperBound..<outWidth { d[ow] = 0 }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// dx[n, c, ih, iw] += cols[…] for every column entry that `unfold` read from (ih, iw);
    /// entries that came from the padding are dropped. `dx` must be initialised by the caller.
    static func foldAdding(_ cols: UnsafePointer<Float>, samples count: Int, geometry g: WindowGeometry,
                           into dx: UnsafeMutablePointer<Float>) {
        let k = g.kernel, s = g.stride, width = g.width
        let outWidth = g.outputWidth, plane = g.outputPlane
        let rowLength = count * plane, sampleStride = g.channels * g.inputPlane
        var row = 0
        for c in 0..<g.channels {
            for kh in 0..<k {
                let rows = g.validRows(kh: kh)
                let rowShift = kh - g.padding
                for kw in 0..<k {
                    let columns = g.validColumns(kw: kw)
                    let columnShift = kw - g.padding
                    let sourceRow = cols + row * rowLength
                    for n in 0..<count {
                        let target = dx + n * sampleStride + c * g.inputPlane
                        let source = sourceRow + n * plane
                        for oh in rows {
                            let targetRow = target + (oh * s + rowShift) * width
                            let from = source + oh * outWidth
                            if s == 1 {
                                let shifted = targetRow + columnShift
                                for ow in columns { shifted[ow] += from[ow] }
                            } else {
                                for ow in columns { targetRow[ow * s + columnShift] += from[ow] }
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
