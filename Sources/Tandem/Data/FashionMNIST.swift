/// Zalando's Fashion-MNIST: 28×28 grey images of ten kinds of clothing, 60,000 to train on and
/// 10,000 to test, shipped by Debian's `dataset-fashion-mnist` as IDX files.
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` package installs the IDX files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The ten kinds of clothing, in label order.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Which half of the data: 60,000 training images or 10,000 test images.
    public enum Split: String { case train, test }

    /// Loads a split from `directory` (gzip or uncompressed IDX files); images scale to [0, 1] when read.
    public static func load(_ split: Split, directory: String = defaultDirectory) throws -> Dataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try locate(directory, "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory, "\(prefix)-labels-idx1-ubyte")
        return try load(imagesPath: imagesPath, labelsPath: labelsPath, name: "fashion-mnist/\(split.rawValue)",
                        classNames: classNames)
    }

    /// Loads any IDX image/label pair (MNIST-style) and checks they belong together.
    public static func load(imagesPath: String, labelsPath: String, name: String,
                            classNames: [String] = classNames) throws -> Dataset {
        let images = try IDXFile(path: imagesPath)
        let labels = try IDXFile(path: labelsPath)
        guard images.dimensions.count == 3 || images.dimensions.count == 4 else {
            throw DataError(imagesPath, "expected images with 3 dimensions (count×rows×columns), found \(images.dimensions.count)")
        }
        guard labels.dimensions.count == 1 else {
            throw DataError(labelsPath, "expected labels with 1 dimension, found \(labels.dimensions.count)")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DataError(labelsPath, "holds \(labels.dimensions[0]) labels but \(imagesPath) holds \(images.dimensions[0]) images")
        }
        let classCount = classNames.count
        var labelValues = [Int32](); labelValues.reserveCapacity(labels.bytes.count)
        for (i, b) in labels.bytes.enumerated() {
            guard Int(b) < classCount else {
                throw DataError(labelsPath, "label \(b) at index \(i) is out of range 0...\(classCount - 1)")
            }
            labelValues.append(Int32(b))
        }
        let shape = images.dimensions.count == 3 ? [1] + images.dimensions[1...] : Array(images.dimensions[1...])
        return Dataset(name: name, sampleShape: Array(shape), classCount: classCount, classNames: classNames,
                       storage: .bytes(Array(images.bytes), scale: 1 / 255), labels: labelValues)
    }

    /// The path the loader reads for a split's images or labels.
    public static func path(_ split: Split, images: Bool, directory: String) -> String {
        let base = "\(split == .train ? "train" : "t10k")-\(images ? "images-idx3" : "labels-idx1")-ubyte"
        return (try? locate(directory, base)) ?? "\(directory)/\(base).gz"
    }

    /// Prefers the compressed file, as Debian ships it, and accepts an uncompressed one.
    private static func locate(_ directory: String, _ base: String) throws -> String {
        let gz = "\(directory)/\(base).gz", raw = "\(directory)/\(base)"
        if FileManager.default.fileExists(atPath: gz) { return gz }
        if FileManager.default.fileExists(atPath: raw) { return raw }
        throw DataError(gz, "no such file (is the dataset-fashion-mnist package installed, or --data-dir wrong?)")
    }
}

import Foundation
