import Testing
@testable import Config

@Suite("ConfigValidator")
struct ConfigValidatorTests {
    static let text = """
        risk:
          max_open_positions: 12
          max_spread_bps: 2.5
          fraction: 0.25
        """

    static func validator() throws -> ConfigValidator {
        ConfigValidator(root: try YAMLNode.parse(text, file: "v.yaml"))
    }

    @Test func rangeReportsAtTheValueMark() throws {
        var validator = try Self.validator()
        validator.range(12, 1...10, at: "risk.max_open_positions")
        validator.range(5, 1...10, at: "risk.max_open_positions")
        #expect(validator.problems == [ConfigProblem(
            mark: mark("v.yaml", 2, 23), message: "must be between 1 and 10, got 12")])
    }

    @Test func doublesFormatWithoutTrailingZero() throws {
        var validator = try Self.validator()
        validator.range(2.5, 3.0...50.0, at: "risk.max_spread_bps")
        validator.range(0.25, 0.5...1.0, at: "risk.fraction")
        validator.range(Float(2), Float(0)...Float(1.5), at: "risk.fraction")
        #expect(validator.problems.map(\.message) == [
            "must be between 3 and 50, got 2.5",
            "must be between 0.5 and 1, got 0.25",
            "must be between 0 and 1.5, got 2",
        ])
        #expect(validator.problems.first?.mark == mark("v.yaml", 3, 19))
        #expect(validator.problems.last?.mark == mark("v.yaml", 4, 13))
    }

    @Test func missingPathFallsBackToNearestAncestor() throws {
        var validator = try Self.validator()
        validator.report("must be set when live", at: "risk.stop_loss.pct")
        #expect(validator.problems == [ConfigProblem(
            mark: mark("v.yaml", 2, 3), message: "'risk.stop_loss.pct' must be set when live")])
    }

    @Test func checkOnlyReportsFailedConditionsAndCamelCasePathsWork() throws {
        var validator = try Self.validator()
        validator.check(true, at: "risk.fraction", "not reported")
        validator.check(false, at: "risk.maxSpreadBps", "must be below max_open_positions")
        #expect(validator.problems == [ConfigProblem(
            mark: mark("v.yaml", 3, 19), message: "must be below max_open_positions")])
        #expect(diagnostics { try validator.throwIfProblems() }?.problems == validator.problems)
    }

    @Test func noProblemsDoesNotThrow() throws {
        let validator = try Self.validator()
        #expect(diagnostics { try validator.throwIfProblems() } == nil)
    }
}
