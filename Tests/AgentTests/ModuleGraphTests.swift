import Foundation
import Testing

/// The folders are the architecture: what a target may import is what it may know. These rules are read from
/// Package.swift (the dependency closure of each target) and from the sources (their `import` lines), so moving a
/// venue call into the engine or the backtest fails here, not in review.
@Suite struct ModuleGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Target name -> the names of the package's own targets it depends on.
    static func graph() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var out: [String: Set<String>] = [:]
        let pattern = try NSRegularExpression(pattern: #"\.(?:target|executableTarget|testTarget)\(name: "(\w+)"(?:, dependencies: \[([^\]]*)\])?"#)
        let range = NSRange(text.startIndex..., in: text)
        for match in pattern.matches(in: text, range: range) {
            guard let nameRange = Range(match.range(at: 1), in: text) else { continue }
            var deps: Set<String> = []
            if let depsRange = Range(match.range(at: 2), in: text) {
                let list = String(text[depsRange])
                // Plain string entries are the package's own targets; `.product(...)` entries are packages.
                let withoutProducts = list.replacingOccurrences(of: #"\.product\([^)]*\)"#, with: "", options: .regularExpression)
                for piece in withoutProducts.split(separator: ",") {
                    let name = piece.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if !name.isEmpty { deps.insert(name) }
                }
            }
            out[String(text[nameRange])] = deps
        }
        return out
    }

    static func closure(of target: String, in graph: [String: Set<String>]) -> Set<String> {
        var seen: Set<String> = []
        var queue = Array(graph[target] ?? [])
        while let next = queue.popLast() {
            if seen.insert(next).inserted { queue.append(contentsOf: graph[next] ?? []) }
        }
        return seen
    }

    /// The modules a target's sources import.
    static func imports(of target: String) throws -> Set<String> {
        let folder = root.appendingPathComponent("Sources").appendingPathComponent(target)
        var out: Set<String> = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("import ") {
                out.insert(String(line.dropFirst("import ".count)).trimmingCharacters(in: .whitespaces))
            }
        }
        return out
    }

    @Test func theGraphIsReadFromThePackage() throws {
        let graph = try Self.graph()
        // A reader that found nothing would make every rule below pass vacuously.
        for target in ["Model", "Market", "Venues", "Engine", "LiveExecution", "Backtest", "Review", "Agent"] {
            #expect(graph[target] != nil, "target \(target) not found in Package.swift")
        }
        #expect(Self.closure(of: "Agent", in: graph).isSuperset(of: ["Engine", "LiveExecution", "Venues", "Backtest"]))
    }

    @Test(arguments: [
        ("Backtest", ["Venues", "LiveExecution", "Streams", "Agent"]),
        ("Engine", ["Venues", "LiveExecution", "Streams", "Backtest", "Agent"]),
        ("Execution", ["Venues", "Market", "Ledger"]),
        ("Market", ["Venues", "HTTP", "Execution"]),
        ("Review", ["Market", "Venues", "Execution", "Engine"]),
        ("Risk", ["Market", "Venues", "Execution", "Engine", "Review"]),
        ("Policy", ["Market", "Venues", "Execution", "Review"]),
    ])
    func aTargetCannotReachWhatItMustNotKnow(target: String, forbidden: [String]) throws {
        let graph = try Self.graph()
        let reach = Self.closure(of: target, in: graph)
        for module in forbidden {
            #expect(!reach.contains(module), "\(target) depends (directly or not) on \(module)")
        }
        let imported = try Self.imports(of: target)
        for module in forbidden {
            #expect(!imported.contains(module), "a source file of \(target) imports \(module)")
        }
    }
}
