import Foundation

/// The kill switch: a file in the data directory (`data/KILL_SWITCH`). Present = no new entries, no reviews.
/// Anyone can create it (`touch data/KILL_SWITCH`) or use `agent kill on`; its text is the reason.
public struct KillSwitch: Sendable {
    public let path: String

    public init(dataDir: String) {
        self.path = (dataDir as NSString).appendingPathComponent("KILL_SWITCH")
    }

    public struct Status: Sendable, Equatable {
        public var isOn: Bool
        /// Why it is on: the file's text, or a generic sentence.
        public var reason: String?
    }

    public func status() -> Status {
        guard FileManager.default.fileExists(atPath: path) else { return Status(isOn: false, reason: nil) }
        let text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let note = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return Status(isOn: true, reason: "kill switch is on (\(path))" + (note.isEmpty ? "" : ": \(note)"))
    }

    public func turnOn(reason: String, at time: Int64) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        let text = "\(reason.isEmpty ? "turned on" : reason) (since \(UTC.iso8601(time)))\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw CLIError.io("cannot write \(path)")
        }
    }

    public func turnOff() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.removeItem(atPath: path)
    }
}
