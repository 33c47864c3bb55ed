import Foundation

/// File-system errors in words a person can act on: the path and the cause, never `NSCocoaErrorDomain error 512`.
enum FileErrorText {
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var cause: String?
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            cause = String(cString: strerror(Int32(underlying.code)))
        } else if ns.domain == NSPOSIXErrorDomain {
            cause = String(cString: strerror(Int32(ns.code)))
        }
        let fallback: String = switch ns.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: "no such file or folder"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: "permission denied"
        case NSFileWriteOutOfSpaceError: "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: "read-only file system"
        case NSFileWriteFileExistsError: "it already exists"
        default: "cannot read or write it"
        }
        return "\(path ?? "a file"): \(cause ?? fallback)"
    }
}
