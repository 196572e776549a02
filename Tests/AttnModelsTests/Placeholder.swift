import Testing
@testable import AttnModels
@Test func placeholder() {}
