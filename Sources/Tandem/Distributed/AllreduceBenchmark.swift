import Foundation

/// Latency and bandwidth of the gradient allreduce through the project's own communicator,
/// and the bucket size the allreduce layer should use.
public struct AllreducePoint {
    /// Size of the summed buffer, in bytes.
    public var bytes: Int
    /// Median seconds of one in-place sum across all ranks.
    public var seconds: Double
    /// Bytes each rank must move for a ring allreduce, per second: 2(P−1)/P · size / time.
    public var busBandwidth: Double
}

/// Measures the allreduce across buffer sizes and picks the bucket size (`tandem bench --allreduce`).
public enum AllreduceBenchmark {
    /// Sizes from 8 bytes to `maxBytes`, doubling, each timed `repeats` times after warm-up.
    public static func measure(_ communicator: Communicator, maxBytes: Int = 64 << 20, repeats: Int = 20) throws -> [AllreducePoint] {
        let maxCount = maxBytes / MemoryLayout<Float>.size
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: maxCount)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1)
        var points: [AllreducePoint] = []
        var count = 2
        let p = Double(communicator.size)
        while count <= maxCount {
            let slice = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            // Fewer repeats for the large sizes keeps the whole sweep near a few seconds.
            let n = count >= (4 << 20) ? max(5, repeats / 4) : repeats
            var times: [Double] = []
            try communicator.barrier()
            for i in 0..<(n + 2) {
                let t0 = Date.timeIntervalSinceReferenceDate
                try communicator.allreduceSum(slice)
                let dt = Date.timeIntervalSinceReferenceDate - t0
                if i >= 2 { times.append(dt) }
                // Keep values bounded: the sum of ones grows by P each time.
                if slice[0] > 1e6 { slice.update(repeating: 1) }
            }
            // Every rank must agree on the figure: take rank 0's, broadcast.
            var median = [times.median]
            try communicator.broadcast(&median, root: 0)
            let bytes = count * MemoryLayout<Float>.size
            let factor = communicator.size > 1 ? 2 * (p - 1) / p : 1
            points.append(AllreducePoint(bytes: bytes, seconds: median[0], busBandwidth: factor * Double(bytes) / median[0]))
            count *= 2
        }
        return points
    }

    /// The smallest size whose bandwidth reaches 80% of the best measured: large enough that
    /// per-call latency is amortised, small enough that the first bucket can start early.
    public static func recommendedBucketBytes(_ points: [AllreducePoint]) -> Int {
        guard let best = points.map(\.busBandwidth).max() else { return 1 << 20 }
        return points.first { $0.busBandwidth >= 0.8 * best }?.bytes ?? (1 << 20)
    }
}
