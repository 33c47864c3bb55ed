/// Errors a command reports (raised anywhere below the command line too). `badInput` exits 2, everything else 1.
public enum CLIError: Error, CustomStringConvertible {
    case badInput(String)
    case failed(String)
    case io(String)

    public var description: String {
        switch self {
        case .badInput(let m), .failed(let m), .io(let m): m
        }
    }

    public var exitCode: Int32 {
        if case .badInput = self { return 2 }
        return 1
    }
}
