import Testing
@testable import AttnViews
@Test func placeholder() {}
