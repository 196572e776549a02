import Testing
@testable import AttnSnapshots
@Test func placeholder() {}
