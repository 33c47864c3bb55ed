import Testing
@testable import Config

@Suite("Merge, --set, environment and paths")
struct YAMLNodeOperationTests {
    static let defaultsText = """
        mode: DRY_RUN
        risk:
          max_open_positions: 3
          max_spread_bps: 25
          assets: [BTC-USD, ETH-USD]
        review:
          model: m1
        """

    static func defaults() throws -> YAMLNode {
        try YAMLNode.parse(defaultsText, file: "<default policy.yaml>")
    }

    // MARK: merge

    @Test func mergeIsDeepAndUserWins() throws {
        let user = try YAMLNode.parse("risk:\n  max_open_positions: 5\n  assets: [SOL-USD]\nextra: 1\n",
                                      file: "policy.yaml")
        let merged = user.merged(over: try Self.defaults())

        #expect(scalar(merged.node(at: "risk.max_open_positions")) == Scalar("5", .plain))
        #expect(merged.node(at: "risk.max_open_positions")?.mark == mark("policy.yaml", 2, 23))
        #expect(scalar(merged.node(at: "risk.max_spread_bps"))?.text == "25")
        #expect(merged.node(at: "risk.max_spread_bps")?.mark == mark("<default policy.yaml>", 4, 19))
        // Sequences replace wholesale.
        guard case .sequence(let assets) = merged.node(at: "risk.assets")?.content else {
            Issue.record("assets is not a sequence")
            return
        }
        #expect(assets.map { scalar($0)?.text } == ["SOL-USD"])
        // Keys only in the user file are kept; untouched defaults stay.
        #expect(scalar(merged.node(at: "extra"))?.text == "1")
        #expect(scalar(merged.node(at: "review.model"))?.text == "m1")
        #expect(keys(merged) == ["risk", "extra", "mode", "review"])
        #expect(merged.mark == user.mark)
    }

    @Test func nonMappingReplacesMappingWholesale() throws {
        let user = try YAMLNode.parse("review: off\n", file: "u")
        let merged = user.merged(over: try Self.defaults())
        #expect(scalar(merged.node(at: "review")) == Scalar("off", .plain))
        #expect(merged.node(at: "review.model") == nil)
    }

    @Test func emptyUserFileYieldsDefaults() throws {
        let merged = try YAMLNode.parse("", file: "u").merged(over: try Self.defaults())
        #expect(keys(merged) == ["mode", "risk", "review"])
        #expect(merged.node(at: "risk") == (try Self.defaults()).node(at: "risk"))
    }

    // MARK: --set

    @Test func setReplacesAScalar() throws {
        var root = try Self.defaults()
        try root.set(path: "risk.max_open_positions", rawValue: "7")
        #expect(scalar(root.node(at: "risk.max_open_positions")) == Scalar("7", .plain))
        #expect(root.node(at: "risk.max_open_positions")?.mark
            == mark("--set risk.max_open_positions", 1, 1))
        #expect(keys(root.node(at: "risk")) == ["max_open_positions", "max_spread_bps", "assets"])
        #expect(root.node(at: "risk.max_spread_bps")?.mark == mark("<default policy.yaml>", 4, 19))
    }

    @Test func setTopLevelAndQuotedValues() throws {
        var root = try Self.defaults()
        try root.set(path: "mode", rawValue: "PAPER")
        try root.set(path: "review.model", rawValue: "'5'")
        #expect(scalar(root.node(at: "mode")) == Scalar("PAPER", .plain))
        #expect(scalar(root.node(at: "review.model")) == Scalar("5", .quoted))
    }

    @Test func setMatchesCamelCasePathsToExistingKeys() throws {
        var root = try Self.defaults()
        try root.set(path: "risk.maxSpreadBps", rawValue: "30")
        #expect(scalar(root.node(at: "risk.max_spread_bps"))?.text == "30")
        #expect(keys(root.node(at: "risk")) == ["max_open_positions", "max_spread_bps", "assets"])
    }

    @Test func setCreatesMissingMappings() throws {
        var root = try Self.defaults()
        try root.set(path: "execution.paper.fee_bps", rawValue: "10")
        let setMark = mark("--set execution.paper.fee_bps", 1, 1)
        #expect(scalar(root.node(at: "execution.paper.fee_bps")) == Scalar("10", .plain))
        #expect(root.node(at: "execution")?.mark == setMark)
        #expect(root.node(at: "execution.paper")?.mark == setMark)
        guard case .mapping(let entries) = root.content, let last = entries.last else {
            Issue.record("root is not a mapping")
            return
        }
        #expect(last.key == "execution")
        #expect(last.keyMark == setMark)
    }

    @Test func setFlowSequenceAndMapping() throws {
        var root = try Self.defaults()
        try root.set(path: "risk.assets", rawValue: "[a, 'b', 3]")
        try root.set(path: "review.limits", rawValue: "{x: 1, y: [2]}")
        guard case .sequence(let items) = root.node(at: "risk.assets")?.content else {
            Issue.record("assets is not a sequence")
            return
        }
        #expect(items.map(scalar) == [Scalar("a", .plain), Scalar("b", .quoted), Scalar("3", .plain)])
        #expect(items.allSatisfy { $0.mark == mark("--set risk.assets", 1, 1) })
        #expect(scalar(root.node(at: "review.limits.y.0"))?.text == "2")
        #expect(root.node(at: "review.limits.y.0")?.mark == mark("--set review.limits", 1, 1))
    }

    @Test func setEmptyValueIsNull() throws {
        var root = try Self.defaults()
        try root.set(path: "review.model", rawValue: "")
        #expect(root.node(at: "review.model")?.isNull == true)
    }

    @Test func setCrossingAScalarIsAnError() throws {
        var root = try Self.defaults()
        let error = diagnostics { try root.set(path: "risk.max_open_positions.deep", rawValue: "1") }
        #expect(error == ConfigDiagnostics([ConfigProblem(
            mark: mark("--set risk.max_open_positions.deep", 1, 1),
            message: "cannot set 'risk.max_open_positions.deep': 'risk.max_open_positions' is \"3\", not a mapping")]))
        #expect(root == (try Self.defaults()))
    }

    @Test func setCrossingASequenceIsAnError() throws {
        var root = try Self.defaults()
        let error = diagnostics { try root.set(path: "risk.assets.0", rawValue: "X") }
        #expect(error?.problems.first?.message
            == "cannot set 'risk.assets.0': 'risk.assets' is a sequence, not a mapping")
    }

    @Test func setRejectsBadPathsAndValues() throws {
        var root = try Self.defaults()
        #expect(diagnostics { try root.set(path: "", rawValue: "1") }?.problems.first?.message
            .hasPrefix("invalid --set path") == true)
        #expect(diagnostics { try root.set(path: "risk..x", rawValue: "1") }?.problems.first?.message
            .hasPrefix("invalid --set path") == true)
        let bad = diagnostics { try root.set(path: "risk.assets", rawValue: "[a, b") }
        #expect(bad?.problems.first?.mark.file == "--set risk.assets")
        #expect(bad?.problems.first?.message.hasPrefix("YAML syntax error") == true)
    }

    // MARK: environment

    @Test func environmentExpansion() throws {
        let text = """
            key: ${API_KEY}
            url: "https://${HOST:-localhost}:${PORT:-8080}/v1"
            price: $$5 and $HOME
            port: ${PORT}
            list: ["${HOST}"]
            """
        let root = try YAMLNode.parse(text, file: "e.yaml")
        let expanded = try root.expandingEnvironment(["API_KEY": "k-123", "PORT": "9000", "HOST": "h"])
        #expect(scalar(expanded.node(at: "key")) == Scalar("k-123", .plain))
        #expect(scalar(expanded.node(at: "url")) == Scalar("https://h:9000/v1", .quoted))
        #expect(scalar(expanded.node(at: "price"))?.text == "$5 and $HOME")
        #expect(scalar(expanded.node(at: "port")) == Scalar("9000", .plain))
        #expect(scalar(expanded.node(at: "list.0"))?.text == "h")
        #expect(expanded.node(at: "url")?.mark == root.node(at: "url")?.mark)
    }

    @Test func environmentFallbackWhenUnsetOrEmpty() throws {
        let root = try YAMLNode.parse("a: ${A:-one}\nb: ${B:-two}\nc: ${C:-}\n", file: "e")
        let expanded = try root.expandingEnvironment(["A": "", "B": "set"])
        #expect(scalar(expanded.node(at: "a"))?.text == "one")
        #expect(scalar(expanded.node(at: "b"))?.text == "set")
        #expect(scalar(expanded.node(at: "c"))?.text == "")
    }

    @Test func missingEnvironmentVariablesAreAllReported() throws {
        let root = try YAMLNode.parse("a: ${MISSING_ONE}\nnested:\n  b: 'x-${MISSING_TWO}'\nc: ${OK}\n", file: "e.yaml")
        let error = diagnostics { try root.expandingEnvironment(["OK": "1"]) }
        #expect(error == ConfigDiagnostics([
            ConfigProblem(mark: mark("e.yaml", 1, 4), message: "environment variable MISSING_ONE is not set"),
            ConfigProblem(mark: mark("e.yaml", 3, 6), message: "environment variable MISSING_TWO is not set"),
        ]))
    }

    @Test func unterminatedReferenceIsAProblem() throws {
        let root = try YAMLNode.parse("a: ${OOPS\n", file: "e.yaml")
        let error = diagnostics { try root.expandingEnvironment([:]) }
        #expect(error?.problems.first?.mark == mark("e.yaml", 1, 4))
        #expect(error?.problems.first?.message.hasPrefix("unterminated '${'") == true)
    }

    // MARK: paths

    @Test func nodeAndMarkAtPath() throws {
        let root = try Self.defaults()
        #expect(scalar(root.node(at: "risk.assets.1"))?.text == "ETH-USD")
        #expect(root.node(at: "risk.assets.2") == nil)
        #expect(root.node(at: "risk.maxOpenPositions")?.mark == mark("<default policy.yaml>", 3, 23))
        #expect(root.node(at: "") == root)
        #expect(root.mark(at: "risk.max_open_positions") == mark("<default policy.yaml>", 3, 23))
        // Nearest existing ancestor.
        #expect(root.mark(at: "risk.nope.deeper") == mark("<default policy.yaml>", 3, 3))
        #expect(root.mark(at: "nothing") == mark("<default policy.yaml>", 1, 1))
    }
}
