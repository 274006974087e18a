import Foundation
import Tandem
import XCTest

/// The first `train` training and `test` test images of Fashion-MNIST and their labels, read
/// by NumPy as `x, y, tx, ty` (uint8 [N, 28, 28] and uint8 [N]) in `folder`, where `script`
/// then saves them as it likes.
func exportFashionMNIST(_ folder: String, train: Int = 1024, test testCount: Int = 256, script: String) throws {
    let read = """
        import numpy as np, gzip, os
        os.chdir('\(folder)')
        d = '\(FashionMNIST.defaultDirectory)/'
        def images(f, n): return np.frombuffer(gzip.open(d + f).read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
        def labels(f, n): return np.frombuffer(gzip.open(d + f).read(), np.uint8, offset=8)[:n]
        x, y = images('train-images-idx3-ubyte.gz', \(train)), labels('train-labels-idx1-ubyte.gz', \(train))
        tx, ty = images('t10k-images-idx3-ubyte.gz', \(testCount)), labels('t10k-labels-idx1-ubyte.gz', \(testCount))

        """
    let result = try TandemBinary.launch(executable: "/usr/bin/env", arguments: ["python3", "-c", read + script], timeout: 120)
    XCTAssertEqual(result.status, 0, result.stderr)
}
