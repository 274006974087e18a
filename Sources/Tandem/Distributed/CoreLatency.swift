import CKernels

/// How far apart the cores that two ranks run on are: the time one cache line takes to go from
/// core 0 to core 1 and back.
///
/// Ranks on one host exchange every updated weight through the caches, so this round trip is a
/// cost of each step that the code does not control. On a virtual machine it changes with where
/// the hypervisor places the virtual cores (on the 2-core target: 80–200 ns at some moments,
/// 420–1,000 ns at others), which is why `scripts/scaling` records it beside every round.
public enum CoreLatency {
    /// `repeats` measurements of `rounds` round trips each between cores 0 and 1, in
    /// nanoseconds per round trip; nil when this process cannot run threads on both cores
    /// (the kernel finds that out before any spinning). Run it alone: a second process
    /// spinning on those cores would be measured too.
    public static func roundTrips(repeats: Int = 5, rounds: Int = 20_000) -> [Double]? {
        var samples: [Double] = []
        for _ in 0..<repeats {
            let nanoseconds = tandem_core_round_trip_ns(0, 1, rounds)
            guard nanoseconds > 0 else { return nil }
            samples.append(nanoseconds)
        }
        return samples
    }
}
