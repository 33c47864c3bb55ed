import Foundation
import Model

/// The kill switch: a file in the data directory (`data/KILL_SWITCH`). Present = no new entries, no reviews.
/// Anyone can create it (`touch data/KILL_SWITCH`) or use `agent kill on`; its text is the reason.
///
/// It fails closed: anything at that path (a file, a directory, a dangling symlink) means on, and so does a path
/// that cannot be examined at all (no permission on the folder, an I/O error). Only "no such file" means off.
public struct KillSwitch: Sendable {
    public let path: String

    /// The longest reason kept, in characters: the file's text goes into every halted cycle's ledger record.
    public static let maxReason = 500

    public init(dataDir: String) {
        self.path = (dataDir as NSString).appendingPathComponent("KILL_SWITCH")
    }

    public struct Status: Sendable, Equatable {
        public var isOn: Bool
        /// Why it is on: the file's text, or a generic sentence.
        public var reason: String?

        public init(isOn: Bool, reason: String? = nil) {
            self.isOn = isOn
            self.reason = reason
        }
    }

    public func status() -> Status {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let reason = errno
            if reason == ENOENT || reason == ENOTDIR { return Status(isOn: false, reason: nil) }
            return Status(isOn: true, reason: "kill switch is on: \(path) cannot be examined (\(String(cString: strerror(reason))))")
        }
        let note = Self.excerpt(readPrefix())
        return Status(isOn: true, reason: "kill switch is on (\(path))" + (note.isEmpty ? "" : ": \(note)"))
    }

    /// At most a few KB of the file, whatever its size; empty when it is no readable regular file (a FIFO or a
    /// device would block or never end).
    private func readPrefix() -> String {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: Self.maxReason * 4)) ?? Data()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `text` cut to ``maxReason`` characters.
    package static func excerpt(_ text: String) -> String {
        text.count > maxReason ? String(text.prefix(maxReason)) + "…" : text
    }

    /// ``switchOn(reason:at:)`` without the warning (circuit breakers; the file is what halts).
    public func turnOn(reason: String, at time: Int64) throws {
        _ = try switchOn(reason: reason, at: time)
    }

    /// Creates the file first (an empty file needs no free blocks, so this works on a full disk), then writes the
    /// reason. Throws only when the file could not be created; a reason that could not be written is returned as a
    /// warning while the switch is on.
    public func switchOn(reason: String, at time: Int64) throws -> String? {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CLIError.io("cannot create \(folder): \(FileErrorText.describe(error))")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIError.io("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let text = "\(reason.isEmpty ? "turned on" : Self.excerpt(reason)) (since \(UTC.iso8601(time)))\n"
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            return "the kill switch is ON, but its reason could not be written to \(path) (\(String(cString: strerror(errno))))"
        }
        return nil
    }

    public func turnOff() throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        try FileManager.default.removeItem(atPath: path)
    }
}
