import Testing
@testable import AttnDiff
@Test func placeholder() {}
