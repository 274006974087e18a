import Foundation
import Tandem
import XCTest

/// The GPT's layers: forward passes against direct formulas, and every backward against
/// finite differences (each layer alone, a whole block, a whole small GPT).
final class TransformerTests: XCTestCase {
    func testLayerNormNormalisesEachRowLikePyTorch() throws {
        let norm = LayerNorm(4)
        let model = try Model(norm, inputShape: [2, 4])
        model.initializeParameters(seed: 1)
        let x = Tensor(shape: [1, 2, 4], values: [1, 2, 3, 4, -2, 0, 0, 2])
        let y = try model.forward(x, context: .evaluation).scalars
        // Row 1: mean 2.5, biased variance 1.25; row 2: mean 0, variance 2.
        let expected: [Float] = [-1.5, -0.5, 0.5, 1.5].map { $0 / (1.25 + 1e-5).squareRoot() }
            + [-2, 0, 0, 2].map { $0 / (2 + 1e-5).squareRoot() }
        for (a, b) in zip(y, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testEmbeddingLooksUpRowsAndRefusesIdsOutsideTheVocabulary() throws {
        let embedding = Embedding(vocabulary: 3, dimension: 2)
        let model = try Model(embedding, inputShape: [2])
        model.arena.setValues([0, 1, 10, 11, 20, 21])
        let y = try model.forward(Tensor(shape: [1, 2], values: [2, 0]), context: .evaluation).scalars
        XCTAssertEqual(y, [20, 21, 0, 1])
        XCTAssertThrowsError(try model.forward(Tensor(shape: [1, 2], values: [3, 0]), context: .evaluation))
        XCTAssertThrowsError(try model.forward(Tensor(shape: [1, 2], values: [0.5, 0]), context: .evaluation))
    }

    /// The attention of one head against its definition, written out without blocks: position
    /// i mixes the values of positions ≤ i only.
    func testAttentionMatchesItsDefinitionAndIsCausal() throws {
        let (t, c) = (40, 4)   // more rows than one block of 32, so block edges are crossed
        let attention = CausalSelfAttention(dimension: c, heads: 1)
        let model = try Model(attention, inputShape: [t, c])
        model.initializeParameters(seed: 3)
        var rng = SplitMix64(seed: 9)
        let xs = (0..<(t * c)).map { _ in rng.uniform(-1, 1) }
        let y = try model.forward(Tensor(shape: [1, t, c], values: xs), context: .evaluation).scalars
        // By hand: qkv = x·Wᵀ + b, P = softmax(q·kᵀ/√c) over j ≤ i, out = (P·v)·Wpᵀ + bp.
        let w = model.arena.slot(named: "c_attn.weight")!, b = model.arena.slot(named: "c_attn.bias")!
        let wp = model.arena.slot(named: "c_proj.weight")!, bp = model.arena.slot(named: "c_proj.bias")!
        let v = model.arena.valueArray
        func linear(_ x: [Double], _ weight: ParameterSlot, _ bias: ParameterSlot) -> [Double] {
            let (outs, ins) = (weight.shape[0], weight.shape[1])
            return (0..<outs).map { o in Double(v[bias.offset + o]) + (0..<ins).reduce(0.0) { $0 + Double(v[weight.offset + o * ins + $1]) * x[$1] } }
        }
        let qkv = (0..<t).map { i in linear((0..<c).map { Double(xs[i * c + $0]) }, w, b) }
        for i in 0..<t {
            let scores = (0...i).map { j in (0..<c).reduce(0.0) { $0 + qkv[i][$1] * qkv[j][c + $1] } / Double(c).squareRoot() }
            let top = scores.max()!, e = scores.map { exp($0 - top) }, total = e.reduce(0, +)
            let mixed = (0..<c).map { d in (0...i).reduce(0.0) { $0 + e[$1] / total * qkv[$1][2 * c + d] } }
            let out = linear(mixed, wp, bp)
            for d in 0..<c { XCTAssertEqual(Double(y[i * c + d]), out[d], accuracy: 1e-5, "position \(i)") }
        }
        // Changing a later position leaves every earlier output as it was.
        var later = xs
        for d in 0..<c { later[30 * c + d] += 1 }
        let y2 = try model.forward(Tensor(shape: [1, t, c], values: later), context: .evaluation).scalars
        XCTAssertEqual(Array(y2[..<(30 * c)]), Array(y[..<(30 * c)]))
        XCTAssertNotEqual(Array(y2[(30 * c)...]), Array(y[(30 * c)...]))
    }

    func testGradientChecksOfEveryLayerABlockAndAWholeGPT() throws {
        // The cases `tandem gradcheck` runs for the transformer.
        let checks = GradientCheckSuite.transformerChecks()
        XCTAssertEqual(checks.count, 7, "every case builds")
        for result in checks {
            XCTAssertTrue(result.passed, result.description)
            XCTAssertGreaterThan(result.checked, 10, result.name)
        }
        XCTAssertTrue(GradientCheckSuite.all().map(\.name).contains("GPT (2 blocks, tied head)"))
    }

    func testAWrongAttentionBackwardFailsItsCheck() throws {
        // The attention's input gradient, damaged in one head's columns by 5 %: as if the
        // softmax's backward had lost part of a term.
        let faulty = FaultyLayer(CausalSelfAttention(dimension: 8, heads: 2)) { _, dx in
            guard let dx else { return }
            for row in 0..<(dx.count / 8) { for d in 0..<4 { dx.pointer[row * 8 + d] *= 1.05 } }
        }
        let result = GradientCheck.check(model: try Model(faulty, inputShape: [6, 8]), batch: 2, name: "faulty attention", spread: 0.5)
        XCTAssertFalse(result.passed, result.description)
        // The same check of the undamaged layer passes.
        let sound = GradientCheck.check(model: try Model(CausalSelfAttention(dimension: 8, heads: 2), inputShape: [6, 8]), batch: 2,
                                        name: "attention", spread: 0.5)
        XCTAssertTrue(sound.passed, sound.description)
    }

    func testGPTParametersCarryNanoGPTNamesAndLayoutsWithTheHeadTied() throws {
        let model = try ModelSpec("gpt").build(inputShape: [128])
        let names = model.arena.slots.map(\.name)
        XCTAssertEqual(names.first, "transformer.wte.weight")
        XCTAssertEqual(model.arena.slot(named: "transformer.wte.weight")?.shape, [256, 128])
        XCTAssertEqual(model.arena.slot(named: "transformer.wpe.weight")?.shape, [128, 128])
        for layer in 0..<4 {
            let p = "transformer.h.\(layer)."
            XCTAssertEqual(model.arena.slot(named: p + "ln_1.weight")?.shape, [128])
            XCTAssertEqual(model.arena.slot(named: p + "attn.c_attn.weight")?.shape, [384, 128])
            XCTAssertEqual(model.arena.slot(named: p + "attn.c_attn.bias")?.shape, [384])
            XCTAssertEqual(model.arena.slot(named: p + "attn.c_proj.weight")?.shape, [128, 128])
            XCTAssertEqual(model.arena.slot(named: p + "ln_2.bias")?.shape, [128])
            XCTAssertEqual(model.arena.slot(named: p + "mlp.c_fc.weight")?.shape, [512, 128])
            XCTAssertEqual(model.arena.slot(named: p + "mlp.c_proj.weight")?.shape, [128, 512])
        }
        XCTAssertNotNil(model.arena.slot(named: "transformer.ln_f.weight"))
        XCTAssertNil(model.arena.slot(named: "lm_head.weight"), "the head is tied to wte: stored once")
        XCTAssertEqual(names.count, 2 + 4 * 12 + 2)
        XCTAssertEqual(model.parameterCount, 256 * 128 + 128 * 128 + 4 * (12 * 128 * 128 + 13 * 128) + 2 * 128)

        // GPT-2's initialisation: normal 0.02, projections 0.02/√(2·layers), zero biases, unit scales.
        model.initializeParameters(seed: 1)
        func std(_ name: String) -> Double {
            let slot = model.arena.slot(named: name)!, v = model.arena.valueArray[slot.offset..<(slot.offset + slot.count)]
            let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / Double(v.count)).squareRoot()
        }
        XCTAssertEqual(std("transformer.wte.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.0.mlp.c_fc.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.0.attn.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(std("transformer.h.0.attn.c_attn.bias"), 0)
        let scale = model.arena.slot(named: "transformer.h.1.ln_2.weight")!
        XCTAssertEqual(Set(model.arena.valueArray[scale.offset..<(scale.offset + scale.count)]), [1])
    }

    func testGPTSpecsAndTheirErrors() throws {
        XCTAssertEqual(try ModelSpec("gpt:layers=6,heads=6,dim=384,context=256").gptConfiguration,
                       GPTConfiguration(layers: 6, heads: 6, dimension: 384, context: 256))
        XCTAssertEqual(try ModelSpec("gpt").sequenceLength, 128)
        XCTAssertNil(try ModelSpec("mlp").sequenceLength)
        for bad in ["gpt:layers=0", "gpt:heads=3", "gpt:depth=2", "gpt:layers"] {
            XCTAssertThrowsError(try ModelSpec(bad).build(inputShape: [128]), bad)
        }
        XCTAssertThrowsError(try ModelSpec("gpt").build(inputShape: [129]), "longer windows than the context")
    }
}
