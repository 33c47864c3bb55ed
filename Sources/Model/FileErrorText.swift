import Foundation

/// File-system errors in words a person can act on: the path and the cause, never `NSCocoaErrorDomain error 512`.
public enum FileErrorText {
    /// `path: cause`.
    public static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
        return "\(path(of: ns) ?? "a file"): \(cause(error))"
    }

    /// Why the operation failed: the POSIX reason when Foundation kept one, else what the path itself shows.
    public static func cause(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        switch ns.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file or folder"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
        case NSFileWriteOutOfSpaceError: return "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: return "read-only file system"
        default: return path(of: ns).flatMap(diagnose) ?? "cannot read or write it"
        }
    }

    private static func path(of ns: NSError) -> String? {
        (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    }

    /// What stands in the way of `path`: an enclosing path that is a file, or a folder without write permission.
    static func diagnose(_ path: String) -> String? {
        let components = path.split(separator: "/")
        var ancestor = path.hasPrefix("/") ? "" : "."
        for component in components.dropLast() {
            ancestor += "/" + component
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) else { return nil }
            if !isDirectory.boolValue { return "\(ancestor) is a file, not a folder" }
        }
        let parent = ancestor.isEmpty ? "/" : ancestor
        return access(parent, W_OK) == 0 ? nil : "no permission to write in \(parent)"
    }
}
