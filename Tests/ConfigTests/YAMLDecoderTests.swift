import Foundation
import Testing
@testable import Config

private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws(ConfigDiagnostics) -> T {
    try YAMLDecoder().decode(type, from: try YAMLNode.parse(text, file: "t.yaml"))
}

/// The single problem thrown when decoding `text` as `type`, or nil.
private func problem<T: Decodable>(_ type: T.Type, _ text: String) -> ConfigProblem? {
    let error = diagnostics { try decode(type, text) }
    #expect(error?.problems.count == 1, "expected exactly one problem, got \(String(describing: error))")
    return error?.problems.first
}

private struct Box<Value: Decodable>: Decodable {
    var value: Value
}

private enum Mode: String, Decodable, ConfigEnum {
    case dryRun = "DRY_RUN"
    case paper = "PAPER"
    case live = "LIVE"
}

/// Adopts only `ConfigEnum` (Decodable comes with it).
private enum Venue: String, ConfigEnum {
    case coinbase, kraken
}

private enum Side: String, Decodable {
    case buy, sell
}

@Suite("YAMLDecoder")
struct YAMLDecoderTests {
    // MARK: round trip

    struct Policy: Decodable, Equatable {
        struct Risk: Decodable, Equatable {
            var maxOpenPositions: Int
            var maxSpreadBps: Double
            var allowShorts: Bool
            var killSwitchFile: String?
        }
        struct Reviewer: Decodable, Equatable {
            var name: String
            var timeoutSeconds: Double
            var enabled: Bool?
        }
        struct Universe: Decodable, Equatable {
            var tier1Core: [String]
            var minVolumeUsd: UInt64
        }
        var mode: String
        var risk: Risk
        var universe: Universe
        var reviewers: [Reviewer]
        var weights: [String: Double]
        var seed: UInt64
        var note: String?
    }

    static let policyText = """
        mode: DRY_RUN
        risk:
          max_open_positions: 3
          max_spread_bps: 12.5
          allow_shorts: false
        universe:
          tier_1_core: [BTC-USD, ETH-USD]
          min_volume_usd: 5_000_000
        reviewers:
          - name: m1
            timeout_seconds: 20
          - name: m2
            timeout_seconds: 1.5e1
            enabled: true
        weights:
          BTC-USD: 0.6
          tier_1_core: 0.4
        seed: 18446744073709551615
        """

    @Test func roundTripOfARealisticNestedStruct() throws {
        let policy = try decode(Policy.self, Self.policyText)
        #expect(policy == Policy(
            mode: "DRY_RUN",
            risk: .init(maxOpenPositions: 3, maxSpreadBps: 12.5, allowShorts: false, killSwitchFile: nil),
            universe: .init(tier1Core: ["BTC-USD", "ETH-USD"], minVolumeUsd: 5_000_000),
            reviewers: [.init(name: "m1", timeoutSeconds: 20, enabled: nil),
                        .init(name: "m2", timeoutSeconds: 15, enabled: true)],
            weights: ["BTC-USD": 0.6, "tier_1_core": 0.4],
            seed: UInt64.max,
            note: nil))
    }

    // MARK: keys

    struct Keys: Decodable, Equatable {
        var maxOpenPositions: Int
        var tier1Core: Int
        var plain: Int
    }

    @Test func keysMatchExactSnakeAndNormalizedSpellings() throws {
        #expect(try decode(Keys.self, "maxOpenPositions: 1\ntier1Core: 2\nplain: 3")
            == Keys(maxOpenPositions: 1, tier1Core: 2, plain: 3))
        #expect(try decode(Keys.self, "max_open_positions: 1\ntier1_core: 2\nplain: 3")
            == Keys(maxOpenPositions: 1, tier1Core: 2, plain: 3))
        #expect(try decode(Keys.self, "MAX_OPEN_POSITIONS: 1\ntier_1_core: 2\nplain: 3")
            == Keys(maxOpenPositions: 1, tier1Core: 2, plain: 3))
    }

    @Test func twoSpellingsOfOneKeyAreAnError() {
        let found = problem(Keys.self, "max_open_positions: 1\nMAX_OPEN_POSITIONS: 2\ntier1Core: 2\nplain: 3")
        #expect(found?.mark == mark("t.yaml", 2, 1))
        #expect(found?.message.hasPrefix("key 'MAX_OPEN_POSITIONS' repeats 'max_open_positions'") == true)
    }

    @Test func exactSpellingWinsAndTheOtherIsUnknown() {
        let found = problem(Keys.self, "maxOpenPositions: 1\nmax_open_positions: 2\ntier1Core: 2\nplain: 3")
        #expect(found?.mark == mark("t.yaml", 2, 1))
        #expect(found?.message
            == "unknown key 'max_open_positions': the same setting is already given as 'maxOpenPositions'")
    }

    @Test func snakeCaseConversion() {
        #expect(ConfigKeys.snakeCase("maxSpreadBps") == "max_spread_bps")
        #expect(ConfigKeys.snakeCase("tier1Core") == "tier1_core")
        #expect(ConfigKeys.snakeCase("myURLValue") == "my_url_value")
        #expect(ConfigKeys.snakeCase("already_snake") == "already_snake")
        #expect(ConfigKeys.snakeCase("BTC-USD") == "btc-usd")
    }

    @Test func dictionaryKeysStayUnconverted() throws {
        let text = "value:\n  BTC-USD: 1.5\n  tier_1_core: 2\n  camelKey: 3\n"
        let weights = try decode(Box<[String: Double]>.self, text).value
        #expect(weights == ["BTC-USD": 1.5, "tier_1_core": 2, "camelKey": 3])
    }

    @Test func dictionaryOfStructsChecksUnknownKeysInside() {
        let text = "value:\n  a:\n    max_open_positions: 1\n    tier1_core: 2\n    plain: 3\n    plian: 4\n"
        let found = problem(Box<[String: Keys]>.self, text)
        #expect(found == ConfigProblem(mark: mark("t.yaml", 6, 5), message: "unknown key 'plian'; did you mean 'plain'?"))
    }

    // MARK: unknown keys

    struct Risk: Decodable {
        var maxOpenPositions: Int
        var maxSpreadBps: Double?
    }
    struct Root: Decodable {
        var mode: String
        var risk: Risk
    }

    @Test func allUnknownKeysAreReportedInDocumentOrderWithSuggestions() {
        let text = """
            mode: PAPER
            modes: x
            risk:
              max_open_positions: 2
              max_open_position: 3
              max_sprd_bps: 4
              completely_different: 5
            zzz:
              nested_is_not_reported: 1
            """
        let error = diagnostics { try decode(Root.self, text) }
        #expect(error == ConfigDiagnostics([
            ConfigProblem(mark: mark("t.yaml", 2, 1), message: "unknown key 'modes'; did you mean 'mode'?"),
            ConfigProblem(mark: mark("t.yaml", 5, 3),
                          message: "unknown key 'max_open_position'; did you mean 'max_open_positions'?"),
            ConfigProblem(mark: mark("t.yaml", 6, 3), message: "unknown key 'max_sprd_bps'; did you mean 'max_spread_bps'?"),
            ConfigProblem(mark: mark("t.yaml", 7, 3), message: "unknown key 'completely_different'"),
            ConfigProblem(mark: mark("t.yaml", 8, 1), message: "unknown key 'zzz'"),
        ]))
    }

    @Test func decodingFailureWinsOverUnknownKeys() {
        let found = problem(Root.self, "mode: PAPER\nextra: 1\nrisk:\n  max_open_positions: many\n")
        #expect(found == ConfigProblem(mark: mark("t.yaml", 4, 23), message: "expected an integer, found \"many\""))
    }

    @Test func unknownKeysInsideSequencesOfStructs() {
        let text = "value:\n  - max_open_positions: 1\n  - max_open_positions: 2\n    typo: 3\n"
        let found = problem(Box<[Risk]>.self, text)
        #expect(found == ConfigProblem(mark: mark("t.yaml", 4, 5), message: "unknown key 'typo'"))
    }

    // MARK: missing and optional

    @Test func missingKeyIsReportedAtTheMappingInSnakeCase() {
        let found = problem(Root.self, "mode: LIVE\nrisk:\n  max_spread_bps: 3\n")
        #expect(found == ConfigProblem(mark: mark("t.yaml", 3, 3), message: "missing key 'max_open_positions'"))
    }

    @Test func optionalAbsentOrNullIsNil() throws {
        for text in ["max_open_positions: 1", "max_open_positions: 1\nmax_spread_bps: ~",
                     "max_open_positions: 1\nmax_spread_bps: null", "max_open_positions: 1\nmax_spread_bps: NULL",
                     "max_open_positions: 1\nmax_spread_bps:"] {
            #expect(try decode(Risk.self, text).maxSpreadBps == nil, "text: \(text)")
        }
        #expect(try decode(Risk.self, "max_open_positions: 1\nmax_spread_bps: 2").maxSpreadBps == 2)
    }

    @Test func quotedNullIsNotNil() {
        let found = problem(Risk.self, "max_open_positions: 1\nmax_spread_bps: 'null'\n")
        #expect(found?.message == "expected a number, found the string \"null\"")
    }

    @Test func nullableElementsInSequences() throws {
        #expect(try decode(Box<[Int?]>.self, "value: [1, ~, 3]").value == [1, nil, 3])
    }

    // MARK: wrong types

    @Test func wrongContainerTypesNameWhatWasFound() {
        let mapping = problem(Root.self, "mode: PAPER\nrisk:\n  - 1\n")
        #expect(mapping == ConfigProblem(mark: mark("t.yaml", 3, 3), message: "expected a mapping, found a sequence"))
        let sequence = problem(Box<[Int]>.self, "value: 5\n")
        #expect(sequence == ConfigProblem(mark: mark("t.yaml", 1, 8), message: "expected a sequence, found \"5\""))
        let scalar = problem(Box<Int>.self, "value:\n  a: 1\n")
        #expect(scalar == ConfigProblem(mark: mark("t.yaml", 2, 3), message: "expected an integer, found a mapping"))
        let string = problem(Box<String>.self, "value: [a]\n")
        #expect(string == ConfigProblem(mark: mark("t.yaml", 1, 8), message: "expected a string, found a sequence"))
    }

    @Test func errorInsideASequenceHasTheElementMark() {
        let found = problem(Box<[Double]>.self, "value:\n  - 1\n  - 2.5\n  - abc\n")
        #expect(found == ConfigProblem(mark: mark("t.yaml", 4, 5), message: "expected a number, found \"abc\""))
    }

    // MARK: scalars

    @Test func booleans() throws {
        for (text, expected) in [("true", true), ("True", true), ("TRUE", true),
                                 ("false", false), ("False", false), ("FALSE", false)] {
            #expect(try decode(Box<Bool>.self, "value: \(text)").value == expected)
        }
        #expect(problem(Box<Bool>.self, "value: yes")?.message == "expected true or false, found \"yes\"")
        #expect(problem(Box<Bool>.self, "value: 'true'")?.message == "expected true or false, found the string \"true\"")
        #expect(problem(Box<Bool>.self, "value: 1")?.mark == mark("t.yaml", 1, 8))
    }

    @Test func integers() throws {
        #expect(try decode(Box<Int>.self, "value: 42").value == 42)
        #expect(try decode(Box<Int>.self, "value: -7").value == -7)
        #expect(try decode(Box<Int>.self, "value: +7").value == 7)
        #expect(try decode(Box<Int>.self, "value: 1_000_000").value == 1_000_000)
        #expect(try decode(Box<[Int]>.self, "value: [9223372036854775807, -9223372036854775808]").value
            == [Int.max, Int.min])
        #expect(problem(Box<Int>.self, "value: '5'")?.message == "expected an integer, found the string \"5\"")
        #expect(problem(Box<Int>.self, "value: 5.0")?.message == "expected an integer, found \"5.0\"")
        #expect(problem(Box<Int>.self, "value: 0x10")?.message == "expected an integer, found \"0x10\"")
        #expect(problem(Box<Int>.self, "value: ~")?.message == "expected an integer, found null")
        #expect(problem(Box<Int>.self, "value:")?.message == "expected an integer, found an empty value")
        let overflow = problem(Box<Int>.self, "value: 9223372036854775808")
        #expect(overflow == ConfigProblem(
            mark: mark("t.yaml", 1, 8),
            message: "9223372036854775808 is out of range for Int (-9223372036854775808...9223372036854775807)"))
    }

    @Test func unsignedIntegers() throws {
        #expect(try decode(Box<UInt64>.self, "value: 18_446_744_073_709_551_615").value == UInt64.max)
        #expect(problem(Box<UInt64>.self, "value: -1")?.message
            == "-1 is out of range for UInt64 (0...18446744073709551615)")
        #expect(problem(Box<UInt64>.self, "value: x")?.message == "expected a non-negative integer, found \"x\"")
    }

    @Test func doubles() throws {
        #expect(try decode(Box<Double>.self, "value: 1.25").value == 1.25)
        #expect(try decode(Box<Double>.self, "value: 3").value == 3)
        #expect(try decode(Box<Double>.self, "value: -0.5").value == -0.5)
        #expect(try decode(Box<Double>.self, "value: 1e-3").value == 0.001)
        #expect(try decode(Box<Double>.self, "value: 2.5E+2").value == 250)
        #expect(try decode(Box<Double>.self, "value: .5").value == 0.5)
        #expect(try decode(Box<Double>.self, "value: 1_000.5").value == 1000.5)
        #expect(problem(Box<Double>.self, "value: abc")
            == ConfigProblem(mark: mark("t.yaml", 1, 8), message: "expected a number, found \"abc\""))
        #expect(problem(Box<Double>.self, "value: .inf")?.message == "expected a finite number, found .inf")
        #expect(problem(Box<Double>.self, "value: -.inf")?.message == "expected a finite number, found -.inf")
        #expect(problem(Box<Double>.self, "value: .nan")?.message == "expected a finite number, found .nan")
        #expect(problem(Box<Double>.self, "value: 1e999")?.message == "1e999 is out of range for a number")
        #expect(problem(Box<Double>.self, "value: \"1.5\"")?.message == "expected a number, found the string \"1.5\"")
        #expect(problem(Box<Double>.self, "value: nan")?.message == "expected a number, found \"nan\"")
    }

    @Test func decimalsKeepTheirDecimalText() throws {
        #expect(try decode(Box<Decimal>.self, "value: 0.1").value == Decimal(string: "0.1"))
        #expect(try decode(Box<Decimal>.self, "value: 1_000.25").value == Decimal(string: "1000.25"))
        #expect(try decode(Box<Decimal>.self, "value: -2e3").value == Decimal(-2000))
        #expect(problem(Box<Decimal>.self, "value: '0.1'")?.message == "expected a number, found the string \"0.1\"")
        #expect(problem(Box<Decimal>.self, "value: .nan")?.message == "expected a finite number, found .nan")
    }

    @Test func stringsFromAnyScalar() throws {
        #expect(try decode(Box<String>.self, "value: 123").value == "123")
        #expect(try decode(Box<String>.self, "value: true").value == "true")
        #expect(try decode(Box<String>.self, "value: 'quoted # not a comment'").value == "quoted # not a comment")
        #expect(try decode(Box<String>.self, "value: |\n  line1\n  line2\n").value == "line1\nline2\n")
    }

    // MARK: enums

    @Test func configEnumListsValidValues() throws {
        #expect(try decode(Box<Mode>.self, "value: PAPER").value == .paper)
        #expect(try decode(Box<Mode?>.self, "value: ~").value == nil)
        #expect(problem(Box<Mode>.self, "value:\n  MAYBE")
            == ConfigProblem(mark: mark("t.yaml", 2, 3), message: "'MAYBE' is not one of: DRY_RUN, PAPER, LIVE"))
        #expect(problem(Box<[Mode]>.self, "value: [LIVE, paper]")
            == ConfigProblem(mark: mark("t.yaml", 1, 15), message: "'paper' is not one of: DRY_RUN, PAPER, LIVE"))
    }

    @Test func configEnumAloneImpliesDecodable() throws {
        #expect(try decode(Box<Venue>.self, "value: kraken").value == .kraken)
        #expect(problem(Box<Venue>.self, "value: binance")?.message == "'binance' is not one of: coinbase, kraken")
    }

    @Test func plainRawValueEnumSaysInvalidValue() throws {
        #expect(try decode(Box<Side>.self, "value: sell").value == .sell)
        #expect(problem(Box<Side>.self, "value: hold")
            == ConfigProblem(mark: mark("t.yaml", 1, 8), message: "invalid value \"hold\""))
    }

    // MARK: custom Decodable

    struct Percent: Decodable {
        var value: Double
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            value = try container.decode(Double.self)
            guard (0...100).contains(value) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a percentage must be 0...100")
            }
        }
    }

    @Test func customDecodingErrorsGetTheNodeMark() {
        let found = problem(Box<[Percent]>.self, "value:\n  - 5\n  - 150\n")
        #expect(found == ConfigProblem(mark: mark("t.yaml", 3, 5), message: "a percentage must be 0...100"))
    }

    struct Manual: Decodable {
        enum CodingKeys: String, CodingKey { case kind, inner }
        enum InnerKeys: String, CodingKey { case size }
        var size: Int
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            _ = try container.decode(String.self, forKey: .kind)
            let inner = try container.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
            size = try inner.decode(Int.self, forKey: .size)
        }
    }

    @Test func nestedContainersMarkKeysUsedAndReportMissingKeys() throws {
        #expect(try decode(Manual.self, "kind: a\ninner:\n  size: 4\n").size == 4)
        #expect(problem(Manual.self, "kind: a\ninner:\n  sise: 4\n")
            == ConfigProblem(mark: mark("t.yaml", 3, 3), message: "missing key 'size'"))
        #expect(problem(Manual.self, "kind: a\ninner:\n  size: 4\n  other: 1\n")
            == ConfigProblem(mark: mark("t.yaml", 4, 3), message: "unknown key 'other'"))
    }

    @Test func emptyValueCountsAsEmptyCollection() throws {
        #expect(try decode(Box<[String: Int]>.self, "value:").value == [:])
        #expect(try decode(Box<[Int]>.self, "value: ~").value == [])
    }

    @Test func aliasedMappingsReportAnUnknownKeyOnce() {
        let text = "value:\n  - &a {max_open_positions: 1, typo: 2}\n  - *a\n"
        let error = diagnostics { try decode(Box<[Risk]>.self, text) }
        #expect(error?.problems == [ConfigProblem(mark: mark("t.yaml", 2, 32), message: "unknown key 'typo'")])
    }
}
