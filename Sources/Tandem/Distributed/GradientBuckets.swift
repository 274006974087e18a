/// The gradient arena cut into buckets for reduction: contiguous ranges of whole layers of
/// about a chosen size, last layer first, because backward finishes the last layer first.
/// A bucket is ready when backward has finished the lowest layer in it.
public struct GradientBuckets {
    /// Arena ranges, in the order they are reduced (last layers first).
    public let ranges: [Range<Int>]
    /// For each unit index, the buckets that become ready when that unit's backward is done.
    public let readyAtUnit: [Int: [Int]]

    /// Groups whole layers, last first, until a group reaches `bucketBytes`; then cuts any group
    /// larger than that into bucket-sized pieces (a 13 MB dense layer becomes 13 1 MB
    /// reductions), because large single reductions are slow here (see `bench --allreduce`).
    /// `layerRanges` gives each unit's arena range in forward order.
    public init(layerRanges: [Range<Int>], bucketBytes: Int) {
        let capacity = max(1, bucketBytes / MemoryLayout<Float>.size)
        var groups: [(range: Range<Int>, readyAt: Int)] = []
        var upper: Int? = nil, lower = 0
        for layer in layerRanges.indices.reversed() where !layerRanges[layer].isEmpty {
            let range = layerRanges[layer]
            if upper == nil { upper = range.upperBound }
            lower = range.lowerBound
            if upper! - lower >= capacity {
                groups.append((lower..<upper!, layer))
                upper = nil
            }
        }
        if let upper, let first = layerRanges.firstIndex(where: { !$0.isEmpty }) {
            groups.append((lower..<upper, first))
        }
        var ranges: [Range<Int>] = []
        var ready: [Int: [Int]] = [:]
        for group in groups {
            var end = group.range.upperBound
            while end > group.range.lowerBound {
                let start = max(group.range.lowerBound, end - capacity)
                ready[group.readyAt, default: []].append(ranges.count)
                ranges.append(start..<end)
                end = start
            }
        }
        self.ranges = ranges
        readyAtUnit = ready
    }
}
