/// How training varies images (`--augment crop,flip`): a random crop of the image zero-padded
/// by `padding` pixels on every side (the image moves by up to `padding` pixels, and what moves
/// in is black), and a horizontal flip with probability ½.
///
/// What each image gets is drawn from (seed, epoch, the image's index in the data set), never
/// from the rank or the step's shard, so one process and P ranks see the same images, and an
/// image looks different in every epoch.
public struct ImageAugmentation: Equatable, Sendable {
    /// The zero padding around the image before cropping, in pixels: the largest shift (0: no crop).
    public var padding: Int
    /// Whether an image is mirrored left to right, with probability ½.
    public var flip: Bool

    /// The default is CIFAR's usual augmentation: 4 pixels of padding, and flips.
    public init(padding: Int = 4, flip: Bool = true) {
        self.padding = padding; self.flip = flip
    }

    /// Moves and flips one [channels, height, width] image in place.
    public func apply(_ image: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int,
                      seed: UInt64, epoch: Int, index: Int) {
        var rng = SplitMix64(seed: seed, stream: 0xC209, UInt64(epoch), UInt64(index))
        let span = UInt64(2 * padding + 1)
        let dy = padding > 0 ? Int(rng.next() % span) - padding : 0
        let dx = padding > 0 ? Int(rng.next() % span) - padding : 0
        let mirrored = flip && rng.next() & 1 == 1
        guard dy != 0 || dx != 0 || mirrored else { return }
        let plane = height * width
        var source = [Float](repeating: 0, count: plane)
        for c in 0..<channels {
            let p = image + c * plane
            for i in 0..<plane { source[i] = p[i] }
            for y in 0..<height {
                let sy = y + dy
                for x in 0..<width {
                    let sx = (mirrored ? width - 1 - x : x) + dx
                    p[y * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width ? source[sy * width + sx] : 0
                }
            }
        }
    }
}
