import ArgumentParser
import Foundation
import Tandem

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images, or recognise spoken digits, with a checkpoint: the most likely classes and their probabilities.",
        discussion: """
        A model trained on --dataset spoken-digits takes sound files (WAV, FLAC, Ogg; any rate and \
        channel count): each is mixed to mono, resampled to 16 kHz, and its log-mel features are \
        taken around the loudest part, as in training.

        Images are PGM (P2 or P5, 8-bit) or PNG (8- or 16-bit grey, grey+alpha, RGB or RGBA; not \
        interlaced). Colour becomes grey by luma, transparency is laid over black, and pixels are \
        scaled to [0, 1] as in training. Fashion-MNIST draws white clothes on black: invert a \
        black-on-white drawing before asking. An image of another size than the model's input \
        (28×28) is resized by nearest neighbour, and the output says so.
        """)

    @Option(help: "Checkpoint or exported weights file.") var checkpoint: String
    @Argument(help: "PGM or PNG images to classify (sound files for a speech model).") var files: [String] = []
    @Option(help: "An IDX images file (e.g. t10k-images-idx3-ubyte.gz) to take image --index from.") var idx: String?
    @Option(help: "The image of --idx to classify, counted from 0.") var index: Int?
    @Option(help: "How many classes to show for each image.") var top = 3
    @Flag(help: "Print one JSON object.") var json = false

    /// One image or clip to classify, as the model will see it.
    struct Input {
        var name: String
        var values: [Float]
        var originalSize: (width: Int, height: Int)?
    }

    func run() throws {
        do {
            try classify()
        } catch {
            Job.fail(error, rank: nil, size: 1)
        }
    }

    func classify() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, not \(top)") }
        guard (idx == nil) == (index == nil) else { throw ValidationError("--idx and --index go together: give both or neither") }
        guard !files.isEmpty || idx != nil else {
            throw ValidationError("nothing to classify: give image files, or --idx FILE --index N")
        }
        let file = try CheckpointFile.read(path: checkpoint)
        if let config = file.metadata["config"], config.split(separator: " ").contains("dataset=csv") {
            throw ValidationError("\(checkpoint): the model was trained on CSV features (--dataset csv), not on images; "
                                  + "tandem predict classifies images")
        }
        let model = try TrainingCheckpoint.model(from: file, path: checkpoint)
        let speech = file.metadata["config"]?.split(separator: " ").contains("dataset=spoken-digits") ?? false
        if speech, idx != nil { throw ValidationError("\(checkpoint) recognises spoken digits: give sound files, not --idx") }
        let read: (String) throws -> Input
        if speech {
            let settings = FrontEndSettings()
            guard model.inputShape == settings.featureShape else {
                throw ValidationError("\(checkpoint): the model takes inputs of shape \(model.inputShape), the speech front end makes \(settings.featureShape)")
            }
            let frontEnd = LogMelSpectrogram(settings: settings)
            read = { Input(name: $0, values: frontEnd.features(of: try AudioFile.read($0, sampleRate: settings.sampleRate))) }
        } else {
            let size = try Predict.imageSize(of: model, path: checkpoint)
            read = { path in
                if AudioFile.looksLikeSound(path) {
                    throw DataError(path, "is a sound file, but \(checkpoint) classifies images (a speech model is trained with --dataset spoken-digits)")
                }
                return Predict.fitted(name: path, image: try ImageFile.read(path: path), to: size)
            }
        }

        // Every input is read before anything is classified; a file that cannot be read is
        // reported in its own line and the others are still classified (the exit status says
        // that some failed).
        var inputs: [Input] = []
        var unreadable = 0
        for path in files {
            do {
                inputs.append(try read(path))
            } catch {
                Job.report(error, rank: nil, size: 1)
                unreadable += 1
            }
        }
        if let idx, let index {
            let size = try Predict.imageSize(of: model, path: checkpoint)
            inputs.append(Predict.fitted(name: "\(idx)[\(index)]", image: try Predict.idxImage(idx, index: index), to: size))
        }
        defer { if unreadable > 0 { Foundation.exit(1) } }
        if inputs.isEmpty { return }

        let probabilities = try Predict.probabilities(model, inputs.map(\.values))
        let classCount = model.outputShape.reduce(1, *)
        let names = speech ? SpokenDigits.words
            : classCount == FashionMNIST.classNames.count ? FashionMNIST.classNames : (0..<classCount).map { "class \($0)" }
        var results: [[String: Any]] = []
        for (input, p) in zip(inputs, probabilities) {
            let ranked = p.indices.sorted { (p[$0], $1) > (p[$1], $0) }.prefix(top)
            if json {
                var entry: [String: Any] = [
                    "input": input.name,
                    "top": ranked.map { ["class": $0, "name": names[$0], "probability": Double(p[$0])] as [String: Any] },
                ]
                if let original = input.originalSize { entry["resized_from"] = [original.width, original.height] }
                results.append(entry)
            } else {
                let resized = input.originalSize.map { " (resized from \($0.width)×\($0.height))" } ?? ""
                print(input.name + resized)
                let width = ranked.map { names[$0].count }.max() ?? 0
                for (rank, c) in ranked.enumerated() {
                    let padded = names[c].padding(toLength: width, withPad: " ", startingAt: 0)
                    print("  \(rank + 1). \(padded)  " + String(format: "%.4f", p[c]))
                }
            }
        }
        if json {
            let object: [String: Any] = ["checkpoint": checkpoint, "predictions": results]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// The height and width of image the model takes: the last two dimensions of its input
    /// shape with one channel, or a square for a flat input of a square number of features.
    static func imageSize(of model: Model, path: String) throws -> (width: Int, height: Int) {
        let shape = model.inputShape
        if shape.count >= 2, shape.dropLast(2).reduce(1, *) == 1 {
            return (shape[shape.count - 1], shape[shape.count - 2])
        }
        if shape.count == 1 {
            let side = Int(Double(shape[0]).squareRoot().rounded())
            if side * side == shape[0] { return (side, side) }
        }
        throw ValidationError("\(path): the model takes inputs of shape \(shape), not one grey image")
    }

    /// The image at the model's size, noting the original size when it had to be resized.
    static func fitted(name: String, image: GreyImage, to size: (width: Int, height: Int)) -> Input {
        if image.width == size.width && image.height == size.height { return Input(name: name, values: image.intensities) }
        return Input(name: name, values: image.resized(width: size.width, height: size.height).intensities,
                     originalSize: (image.width, image.height))
    }

    /// Image `index` of an IDX images file (count × rows × columns, bytes), scaled like training data.
    static func idxImage(_ path: String, index: Int) throws -> GreyImage {
        let file = try IDXFile(path: path)
        let dims = file.dimensions
        guard dims.count == 3 || (dims.count == 4 && dims[1] == 1) else {
            throw DataError(path, "expected grey images (count×rows×columns), found dimensions \(dims.map(String.init).joined(separator: "×"))")
        }
        let rows = dims[dims.count - 2], columns = dims[dims.count - 1]
        guard rows > 0, columns > 0 else { throw DataError(path, "holds empty \(rows)×\(columns) images") }
        guard index >= 0, index < dims[0] else {
            throw DataError(path, "has no image \(index): it holds \(dims[0]) (indices 0...\(max(dims[0] - 1, 0)))")
        }
        let start = file.bytes.startIndex + index * rows * columns
        let pixels = file.bytes[start..<(start + rows * columns)].map { Float($0) * (1 / Float(255)) }   // as Dataset.fill
        return GreyImage(width: columns, height: rows, intensities: pixels)
    }

    /// Softmax of the model's outputs, one row per input. A model that already ends in a
    /// Softmax layer outputs probabilities, which are taken as they are.
    static func probabilities(_ model: Model, _ inputs: [[Float]]) throws -> [[Float]] {
        let features = model.inputShape.reduce(1, *), classes = model.outputShape.reduce(1, *)
        var x = [Float](); x.reserveCapacity(inputs.count * features)
        for input in inputs { x += input }
        let output = try model.forward(Tensor(shape: [inputs.count] + model.inputShape, values: x), context: .evaluation)
        let alreadyProbabilities = model.layers.last is Softmax
        return (0..<inputs.count).map { row in
            let logits = output.pointer + row * classes
            var p = [Float](repeating: 0, count: classes)
            if alreadyProbabilities {
                for j in 0..<classes { p[j] = logits[j] }
            } else {
                p.withUnsafeMutableBufferPointer { _ = Softmax.probabilities(logits, count: classes, into: $0.baseAddress!) }
            }
            return p
        }
    }
}
