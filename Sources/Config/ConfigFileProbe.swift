import Foundation

/// Decides whether a configuration file is there to be read, without ever falling back silently: a path that
/// exists but cannot be read (a dangling symlink, no permission, a directory) is a problem, and so is a folder
/// the user named that is not there. Only an implicit file or folder may be absent.
enum ConfigFileProbe {
    /// True when `path` should be read, false when it is absent and the built-in default applies.
    static func present(_ path: String, folder: String, required: Bool, misspelt: [String]) throws(ConfigDiagnostics) -> Bool {
        let start = SourceMark(file: path, line: 1, column: 1)
        if let problem = folderProblem(folder, required: required) {
            throw ConfigDiagnostics(at: SourceMark(file: folder, line: 1, column: 1), problem)
        }
        var link = stat()
        guard lstat(path, &link) == 0 else {
            let reason = errno
            guard reason == ENOENT else {
                throw ConfigDiagnostics(at: start, "cannot examine the configuration file: \(String(cString: strerror(reason)))")
            }
            for other in misspelt where lstat(other, &link) == 0 {
                throw ConfigDiagnostics(at: SourceMark(file: other, line: 1, column: 1),
                                        "found \((other as NSString).lastPathComponent), but the file must be named \((path as NSString).lastPathComponent)")
            }
            return false
        }
        var target = stat()
        guard stat(path, &target) == 0 else {
            let reason = errno
            let what = reason == ENOENT ? "a symbolic link to a file that does not exist" : String(cString: strerror(reason))
            throw ConfigDiagnostics(at: start, "cannot read the configuration file: \(what)")
        }
        if (target.st_mode & S_IFMT) == S_IFDIR {
            throw ConfigDiagnostics(at: start, "configuration path is a directory, not a file")
        }
        guard access(path, R_OK) == 0 else {
            throw ConfigDiagnostics(at: start, "cannot read the configuration file: \(String(cString: strerror(errno)))")
        }
        return true
    }

    /// Why `folder` cannot serve (nil when it can, or when it is implicit and simply absent).
    static func folderProblem(_ folder: String, required: Bool) -> String? {
        if folder.isEmpty { return "an empty folder name was given" }
        var info = stat()
        guard stat(folder, &info) == 0 else {
            let reason = errno
            if reason == ENOENT {
                return required ? "the folder does not exist" : nil
            }
            return "cannot examine the folder: \(String(cString: strerror(reason)))"
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return "not a folder" }
        guard access(folder, R_OK | X_OK) == 0 else {
            return "cannot read the folder: \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
