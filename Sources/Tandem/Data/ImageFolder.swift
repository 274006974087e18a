import Foundation

/// A data set of image files in torchvision's `ImageFolder` layout:
///
///     root/<class name>/<any name>.png | .pgm
///
/// Classes are the sub-folders, sorted by name (class 0 is the first); files are read in name
/// order within each class. Every image must have the size and channels of the first (grey or
/// RGB, as `ImageFile.readPixels` gives them); a sample is [channels, height, width].
/// Hidden entries (".name") are skipped; any other file is an error, so a stray file is not
/// silently left out of a data set.
public enum ImageFolder {
    /// The file extensions an image folder may hold (compared without case).
    public static let imageExtensions: Set<String> = ["png", "pgm"]

    /// Loads `root`. A test folder passes its training set's `classNames` (its folders must be
    /// among them, and keep their indices) and `sampleShape`.
    public static func load(_ root: String, classNames known: [String]? = nil, sampleShape expected: [Int]? = nil) throws -> Dataset {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: root, isDirectory: &isDirectory) else { throw DataError(root, "no such folder") }
        guard isDirectory.boolValue else { throw DataError(root, "is a file; an image folder holds one sub-folder per class") }
        let classes = try classNames(in: root)
        let classNames = known ?? classes
        var values: [Float] = [], labels: [Int32] = []
        // What the first image (or the training set) is, as a message says it: "/a/0.png is".
        var shape = expected, reference = expected.map { _ in "the training images are" }
        for name in classes {
            guard let label = classNames.firstIndex(of: name) else {
                throw DataError(root + "/" + name, "is a class the training folder does not have (it has \(classNames.joined(separator: ", ")))")
            }
            for file in try visible(root + "/" + name) {
                let path = root + "/" + name + "/" + file
                guard imageExtensions.contains((file as NSString).pathExtension.lowercased()) else {
                    throw DataError(path, "is not a .png or .pgm image (an image folder holds only images)")
                }
                let image = try ImageFile.readPixels(path: path)
                if let shape {
                    guard image.shape == shape else {
                        let wanted = PixelImage(width: shape[2], height: shape[1], channels: shape[0],
                                                values: [Float](repeating: 0, count: shape.reduce(1, *))).sizeDescription
                        throw DataError(path, "is a \(image.sizeDescription) image, but \(reference!) \(wanted); every image must have one size")
                    }
                } else {
                    shape = image.shape; reference = path + " is"
                }
                values.append(contentsOf: image.values)
                labels.append(Int32(label))
            }
        }
        guard let shape, !labels.isEmpty else { throw DataError(root, "holds no images") }
        return Dataset(name: root, sampleShape: shape, classCount: classNames.count, classNames: classNames,
                       storage: .floats(values), labels: labels)
    }

    /// The class names of the folder at `root`: its sub-folders, sorted by name.
    public static func classNames(in root: String) throws -> [String] {
        let classes = try visible(root).filter { name in
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isFolder) && isFolder.boolValue
        }
        guard !classes.isEmpty else { throw DataError(root, "holds no class folders (expected root/<class>/<image>.png)") }
        return classes
    }

    /// The entries of a folder that are not hidden, sorted by name.
    private static func visible(_ folder: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw DataError(folder, "cannot be listed (\(error.localizedDescription))")
        }
    }
}
