import Foundation
import Testing
@testable import Config

@Suite("YAML parsing")
struct YAMLParseTests {
    static let document = """
        # policy
        mode: DRY_RUN
        risk:
          max_open_positions: 3
          assets:
            - BTC-USD
            - "ETH-USD"
          limits: {daily: 2.5, weekly: 'x'}
        """

    @Test func marksAreExactOneBasedPositions() throws {
        let root = try YAMLNode.parse(Self.document, file: "policy.yaml")
        #expect(root.mark == mark("policy.yaml", 2, 1))
        guard case .mapping(let entries) = root.content else {
            Issue.record("root is not a mapping")
            return
        }
        #expect(entries.map(\.key) == ["mode", "risk"])
        #expect(entries[1].keyMark == mark("policy.yaml", 3, 1))
        #expect(root.node(at: "mode")?.mark == mark("policy.yaml", 2, 7))
        #expect(root.node(at: "risk")?.mark == mark("policy.yaml", 4, 3))
        #expect(root.node(at: "risk.max_open_positions")?.mark == mark("policy.yaml", 4, 23))
        #expect(root.node(at: "risk.assets")?.mark == mark("policy.yaml", 6, 5))
        #expect(root.node(at: "risk.assets.0")?.mark == mark("policy.yaml", 6, 7))
        #expect(root.node(at: "risk.assets.1")?.mark == mark("policy.yaml", 7, 7))
        #expect(root.node(at: "risk.limits")?.mark == mark("policy.yaml", 8, 11))
        #expect(root.node(at: "risk.limits.weekly")?.mark == mark("policy.yaml", 8, 32))
    }

    @Test func scalarStylesAreKept() throws {
        let root = try YAMLNode.parse(Self.document + "\nnotes: |\n  literal\ntagged: !!str 5\n", file: "p")
        #expect(scalar(root.node(at: "risk.assets.0")) == Scalar("BTC-USD", .plain))
        #expect(scalar(root.node(at: "risk.assets.1")) == Scalar("ETH-USD", .quoted))
        #expect(scalar(root.node(at: "risk.limits.weekly")) == Scalar("x", .quoted))
        #expect(scalar(root.node(at: "notes")) == Scalar("literal\n", .quoted))
        #expect(scalar(root.node(at: "tagged")) == Scalar("5", .quoted))
        #expect(scalar(root.node(at: "risk.max_open_positions")) == Scalar("3", .plain))
    }

    @Test func emptyDocumentIsAnEmptyMapping() throws {
        for text in ["", "# only a comment\n", "---\n"] {
            let root = try YAMLNode.parse(text, file: "e.yaml")
            #expect(root.content == .mapping([]), "text: \(text)")
        }
    }

    @Test func syntaxErrorHasLibyamlPosition() {
        let error = diagnostics { try YAMLNode.parse("a: 1\nb: 2\n  c: 3\n", file: "bad.yaml") }
        #expect(error?.problems.count == 1)
        #expect(error?.problems.first?.mark == mark("bad.yaml", 3, 4))
        #expect(error?.problems.first?.message.contains("mapping values are not allowed") == true)
        #expect(error?.description.hasPrefix("bad.yaml:3:4: YAML syntax error: ") == true)
    }

    @Test func unclosedFlowSequenceIsASyntaxError() {
        let error = diagnostics { try YAMLNode.parse("list: [1, 2\nnext: 3\n", file: "f") }
        // The unclosed `[1, 2 next` runs into the `:` of line 2.
        #expect(error?.description == "f:2:5: YAML syntax error: did not find expected ',' or ']'"
            + " (while parsing a flow sequence starting at line 1 column 7)")
    }

    @Test func duplicateKeyIsReportedAtTheSecondKey() {
        let text = "risk:\n  a: 1\n  b: 2\n  a: 3\n"
        let error = diagnostics { try YAMLNode.parse(text, file: "d.yaml") }
        #expect(error == ConfigDiagnostics([ConfigProblem(
            mark: mark("d.yaml", 4, 3),
            message: "duplicate key 'a' (first defined at line 2 column 3)")]))
    }

    @Test func nonScalarKeyIsAnError() {
        let error = diagnostics { try YAMLNode.parse("? [a, b]\n: 1\n", file: "k.yaml") }
        #expect(error?.problems.first?.mark == mark("k.yaml", 1, 3))
        #expect(error?.problems.first?.message == "mapping keys must be scalars, found a sequence")
    }

    @Test func multipleDocumentsAreRejected() {
        let error = diagnostics { try YAMLNode.parse("a: 1\n---\nb: 2\n", file: "m.yaml") }
        #expect(error?.problems.first?.mark == mark("m.yaml", 2, 1))
        #expect(error?.problems.first?.message.contains("multiple YAML documents") == true)
    }

    @Test func aliasesYieldCopiesOfTheAnchoredNode() throws {
        let text = """
            base: &base
              fee_bps: 10
              tiers: [a, b]
            copy: *base
            fee: &fee 7
            again: *fee
            """
        let root = try YAMLNode.parse(text, file: "a.yaml")
        #expect(root.node(at: "copy") == root.node(at: "base"))
        #expect(scalar(root.node(at: "copy.fee_bps")) == Scalar("10", .plain))
        #expect(scalar(root.node(at: "again")) == Scalar("7", .plain))
        #expect(scalar(root.node(at: "copy.tiers.1"))?.text == "b")
    }

    @Test func unknownAliasIsAnError() {
        let error = diagnostics { try YAMLNode.parse("a: 1\nb: *nope\n", file: "u.yaml") }
        #expect(error?.problems.first?.mark == mark("u.yaml", 2, 4))
        #expect(error?.problems.first?.message.contains("*nope") == true)
    }

    @Test func mergeKeysApplyWithExplicitKeysWinning() throws {
        let text = """
            defaults: &d
              a: 1
              b: 2
            child:
              <<: *d
              b: 3
            """
        let root = try YAMLNode.parse(text, file: "m.yaml")
        #expect(keys(root.node(at: "child")) == ["b", "a"])
        #expect(scalar(root.node(at: "child.b"))?.text == "3")
        #expect(scalar(root.node(at: "child.a"))?.text == "1")
    }

    @Test func unicodeColumnsCountCharacters() throws {
        let root = try YAMLNode.parse("name: \"é€\"\nnext: 1\nx: [é, ü, z]\n", file: "u")
        #expect(root.node(at: "next")?.mark == mark("u", 2, 7))
        #expect(root.node(at: "x.2")?.mark == mark("u", 3, 11))
    }

    @Test func parseFileReadsAndReportsMissingFiles() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("config-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("p.yaml").path
        try "a:\n  b: 1\n".write(toFile: path, atomically: true, encoding: .utf8)

        let root = try YAMLNode.parseFile(atPath: path)
        #expect(root.node(at: "a.b")?.mark == mark(path, 2, 6))

        let missing = directory.appendingPathComponent("missing.yaml").path
        let error = diagnostics { try YAMLNode.parseFile(atPath: missing) }
        #expect(error == ConfigDiagnostics([ConfigProblem(mark: mark(missing, 1, 1),
                                                          message: "configuration file not found")]))
        #expect(error?.description == "\(missing):1:1: configuration file not found")
    }

    @Test func diagnosticsPrintOneProblemPerLine() {
        let diagnostics = ConfigDiagnostics([
            ConfigProblem(mark: mark("a.yaml", 1, 2), message: "first"),
            ConfigProblem(mark: mark("--set x", 1, 1), message: "second"),
        ])
        #expect(diagnostics.description == "a.yaml:1:2: first\n--set x:1:1: second")
    }
}
