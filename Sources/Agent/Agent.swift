/// Entry point placeholder; the CLI lands with the cycle runner.
public enum AgentMain {
    public static func main() async {}
}
