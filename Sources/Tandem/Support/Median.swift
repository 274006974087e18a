extension Array where Element == Double {
    /// The middle value (the upper one of an even count), NaN when empty: what the benchmarks
    /// report, since one slow step or run moves it little.
    public var median: Double {
        let sorted = self.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }
}
