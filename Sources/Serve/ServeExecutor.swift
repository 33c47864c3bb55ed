import Foundation
import NIOCore
import NIOPosix

/// Where the operator surfaces do their work: one serial thread at a lower CPU priority (nice 10 by default), so
/// that a busy dashboard or scraper only gets the CPU the trading cycles leave. The HTTP event loop is lowered the
/// same way. Both hold for `agent serve` beside a loop and for `agent --interval ... --serve` in one process, where
/// the cycle runs on the cooperative pool at normal priority and never waits behind a page.
///
/// Jobs run in the order they arrive, one at a time: the server never uses more than this one thread for ledger
/// reads and rendering, however many clients there are.
public final class ServeExecutor: TaskExecutor, @unchecked Sendable {
    /// The process's one serve thread.
    public static let shared = ServeExecutor(name: "agent.serve", nice: ServePriority.nice)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    public init(name: String, nice: Int32) {
        let thread = Thread { [unowned self] in
            ServePriority.lowerThisThread(to: nice)
            self.drain()
        }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the serve thread and returns its value.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withTaskExecutorPreference(self) { body() }
    }

    private func drain() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// Lowering the CPU priority of the threads that serve operators (Linux: nice applies per thread).
public enum ServePriority {
    /// The niceness of the serve threads: 10 by default; `AGENT_SERVE_NICE` (0...19) overrides it.
    public static let nice: Int32 = {
        if let text = ProcessInfo.processInfo.environment["AGENT_SERVE_NICE"], let value = Int32(text), (0...19).contains(value) {
            return value
        }
        return 10
    }()

    /// Sets the calling thread's niceness (never raises it). Returns false when the system refused.
    @discardableResult
    public static func lowerThisThread(to nice: Int32 = nice) -> Bool {
        #if os(Linux)
        // Linux keeps the nice value per thread: `who` 0 is the calling thread, not the whole process.
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        if errno == 0, current >= nice { return true }
        return setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0
        #else
        return false
        #endif
    }

    /// An event loop group whose threads run at the serve niceness.
    public static func eventLoopGroup(threads: Int = 1) -> MultiThreadedEventLoopGroup {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        for loop in group.makeIterator() {
            loop.execute { lowerThisThread() }
        }
        return group
    }
}
