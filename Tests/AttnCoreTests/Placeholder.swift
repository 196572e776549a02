import Testing
@testable import AttnCore
@Test func placeholder() {}
