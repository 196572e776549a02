/// Sizes computed from shapes a file declares, with every multiplication checked: a product that
/// overflows is a damaged or hostile file, never a wrapped-around size that a later check passes.
public enum CheckedSize {
    /// The number of elements of `shape`, or nil when a size is negative or the product overflows.
    public static func elements(_ shape: [Int]) -> Int? {
        bytes(shape, elementSize: 1)
    }

    /// The bytes of a tensor of `shape`, or nil when a size is negative or the count overflows.
    public static func bytes(_ shape: [Int], elementSize: Int) -> Int? {
        var product = elementSize
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            product = next
        }
        return product
    }
}
