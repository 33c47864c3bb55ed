import Engine
import Foundation
import Ledger
import Model

/// One data dir, one agent. Every policy cap (trades per hour, exposure, per-asset share) counts what is in the
/// ledger, so it holds only while a single process decides and records. Commands that append cycles or orders
/// take an exclusive `flock` on `<data-dir>/agent.lock` for as long as they run; a second one is refused and
/// told who holds it. Readers (`audit`, `show`, `trades`, `serve`, `reconcile` without `--ack`) never take it.
///
/// The kernel drops a `flock` when its process dies, however it dies. The file keeps the holder's pid and start
/// time; the holder empties it when it ends normally. So a free lock whose file still names a holder was left
/// by a process that died: it is taken over, and the takeover is recorded in the ledger.
final class DataDirLock: Sendable {
    static let fileName = "agent.lock"
    let path: String
    private let descriptor: Int32
    /// The previous holder's line when it died holding the lock; nil after a clean release.
    let takenOverFrom: String?

    private init(path: String, descriptor: Int32, takenOverFrom: String?) {
        self.path = path
        self.descriptor = descriptor
        self.takenOverFrom = takenOverFrom
    }

    /// Takes the lock or throws `CLIError.badInput` (exit 2) naming the holder. `command` is what this
    /// process runs, written for the next one to read.
    static func acquire(dataDir: String, command: String) throws -> DataDirLock {
        guard !dataDir.isEmpty else { throw CLIError.badInput("--data-dir is empty: name a folder") }
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            throw CLIError.io("cannot create the data dir: \(FileErrorText.describe(error))")
        }
        let path = (dataDir as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIError.io("cannot open the data dir lock \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = contents(fd)
            close(fd)
            if reason == EWOULDBLOCK {
                throw CLIError.badInput("the data dir \(dataDir) is in use by another agent: \(holder.isEmpty ? "a process that is starting" : holder). "
                                        + "One data dir serves one agent (the policy caps count one ledger); stop that one or use another --data-dir.")
            }
            throw CLIError.io("cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let previous = contents(fd)
        let line = "pid \(getpid()) started \(UTC.iso8601(UTC.now())) running `\(command)`"
        ftruncate(fd, 0)
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return DataDirLock(path: path, descriptor: fd, takenOverFrom: previous.isEmpty ? nil : previous)
    }

    /// Records a takeover from a dead holder, once the ledger is open.
    func recordTakeover(in ledger: Ledger, time: Int64) throws {
        guard let takenOverFrom else { return }
        try ledger.append(NewEvent.json("lock-\(UTC.compact(time))", .dataDirLockTakeover, time,
                                        CycleNote(reason: "took over \(path), left by a process that ended without releasing it: \(takenOverFrom)")))
    }

    /// Empties the file (a clean end) and drops the lock.
    func release() {
        ftruncate(descriptor, 0)
        close(descriptor)
    }

    private static func contents(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension DataDirLock {
    /// This process's command line, cut short, for the lock file.
    static var commandLine: String {
        String((["agent"] + CommandLine.arguments.dropFirst()).joined(separator: " ").prefix(200))
    }

    /// Runs `body` holding the lock on `dataDir`, releasing it however `body` ends.
    static func holding<T>(dataDir: String, command: String, _ body: (DataDirLock) async throws -> T) async throws -> T {
        let lock = try acquire(dataDir: dataDir, command: command)
        defer { lock.release() }
        return try await body(lock)
    }
}
