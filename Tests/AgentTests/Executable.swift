import Foundation
import TestSupport

/// Runs the built `agent` executable, as a user would.
/// Blocking waits run on GCD threads (`offload`), never on the cooperative pool: blocking it starves every
/// other async test on a 2-core machine.
struct AgentProcess: @unchecked Sendable {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// The `agent` binary next to the test bundle in the build folder.
    static let executable: URL? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("agent")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue {
                return candidate
            }
            dir.deleteLastPathComponent()
        }
        let fallback = URL(fileURLWithPath: Fixtures.repoRoot).appendingPathComponent(".build/debug/agent")
        return FileManager.default.fileExists(atPath: fallback.path) ? fallback : nil
    }()

    /// Arguments that point a run at the repository's config and a private data folder.
    static func common(dataDir: String) -> [String] {
        ["--config-dir", Fixtures.repoRoot + "/config", "--data-dir", dataDir]
    }

    let process = Process()
    let out = Pipe()
    let err = Pipe()

    /// `environment` replaces the child's environment when given (tests pass fake keys this way).
    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        guard let exe = Self.executable else { throw TestFailure("the agent executable was not built") }
        process.executableURL = exe
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.repoRoot)
        if let environment { process.environment = environment }
        try process.run()
    }

    /// Runs to completion (with a generous timeout).
    static func run(_ arguments: [String], environment: [String: String]? = nil, timeout: Double = 120) async throws -> Output {
        let p = try AgentProcess(arguments, environment: environment)
        return try await p.finish(timeout: timeout)
    }

    /// Waits for the process to exit and collects its output.
    func finish(timeout: Double = 120) async throws -> Output {
        try await offload { try self.waitBlocking(timeout: timeout) }
    }

    /// Reads stdout lines as they come until `count` lines were seen (or the timeout).
    func lines(_ count: Int, timeout: Double = 120) async throws -> [String] {
        try await offload { try self.readLinesBlocking(count, timeout: timeout) }
    }

    private func waitBlocking(timeout: Double) throws -> Output {
        // Drain both pipes concurrently so a chatty child never blocks.
        let outData = LockedData(), errData = LockedData()
        let group = DispatchGroup()
        for (pipe, sink) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async {
                sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            throw TestFailure("agent \(process.arguments ?? []) did not finish within \(timeout)s")
        }
        process.waitUntilExit()
        group.wait()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData.get(), as: UTF8.self),
                      stderr: String(decoding: errData.get(), as: UTF8.self))
    }

    private func readLinesBlocking(_ count: Int, timeout: Double) throws -> [String] {
        var buffer = Data()
        var lines: [String] = []
        let handle = out.fileHandleForReading
        let deadline = Date().addingTimeInterval(timeout)
        while lines.count < count && Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: 0x0A) {
                lines.append(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
                buffer.removeSubrange(buffer.startIndex...nl)
            }
        }
        return lines
    }
}

/// Runs blocking work on a GCD thread and awaits it.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.withLock { data = d } }
    func get() -> Data { lock.withLock { data } }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Parses one line of JSON into a dictionary.
func jsonObject(_ line: String) throws -> [String: Any] {
    guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw TestFailure("not a JSON object: \(line.prefix(200))")
    }
    return obj
}
