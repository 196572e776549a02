import Foundation
import Glibc
import Testing
@testable import AttnCore

/// Reading a child's output to the end survives signals arriving meanwhile (Foundation's
/// `readDataToEndOfFile()` traps on the EINTR they cause, which crashed a test run).
@Suite struct FileHandleReadingTests {
    @Test func aReadInterruptedBySignalsGoesOnToTheEnd() throws {
        let pipe = Pipe()
        // A handler without SA_RESTART: a blocked read(2) returns EINTR when the signal arrives.
        var action = sigaction(), previous = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(SIGUSR2, &action, &previous)
        defer { sigaction(SIGUSR2, &previous, nil) }
        let reader = pthread_self()
        let writer = Thread {
            for _ in 0 ..< 5 {
                usleep(20_000)
                pthread_kill(reader, SIGUSR2)
            }
            pipe.fileHandleForWriting.write(Data(repeating: 7, count: 200_000))
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        #expect(pipe.fileHandleForReading.readUntilEnd() == Data(repeating: 7, count: 200_000))
    }
}
