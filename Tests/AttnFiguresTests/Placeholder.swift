import Testing
@testable import AttnFigures
@Test func placeholder() {}
