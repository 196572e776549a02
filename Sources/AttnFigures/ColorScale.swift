import Foundation

/// A colour with components in 0…1.
public struct RGB: Sendable, Equatable {
    public var red: Double, green: Double, blue: Double

    public init(_ red: Double, _ green: Double, _ blue: Double) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(Double((hex >> 16) & 0xFF) / 255, Double((hex >> 8) & 0xFF) / 255, Double(hex & 0xFF) / 255)
    }

    /// Relative luminance (sRGB weights, no linearisation): enough to choose dark or light text.
    public var luminance: Double { 0.2126 * red + 0.7152 * green + 0.0722 * blue }

    /// A colour between `self` (t = 0) and `other` (t = 1).
    public func mixed(with other: RGB, _ t: Double) -> RGB {
        RGB(red + (other.red - red) * t, green + (other.green - green) * t, blue + (other.blue - blue) * t)
    }

    /// Black or white, whichever reads better on this colour.
    public var contrastingText: RGB { luminance > 0.55 ? RGB(0.1, 0.1, 0.1) : RGB(1, 1, 1) }

    static let white = RGB(1, 1, 1)
    static let ink = RGB(0.13, 0.13, 0.13)
    static let grey = RGB(0.45, 0.45, 0.45)
    /// Boxes, regions and changed words: a dark orange that stands out on every light map.
    static let accent = RGB(hex: 0xD95F02)
    /// A hairline around circles, so that a circle shows even on a cell of its own colour.
    static let circleOutline = RGB(0.55, 0.55, 0.55)
}

/// The colour maps a figure can use: sequential maps that start near white and print well in
/// colour and in grey (ColorBrewer's nine-class sequential schemes), viridis, and for values of
/// either sign (scans) ColorBrewer's diverging red–blue, white at its middle.
public enum ColorMapName: String, CaseIterable, Sendable {
    case blues, greens, oranges, purples, reds, greys, ylorrd, viridis, rdbu

    /// True for a map with a neutral middle, for values around 0.
    public var isDiverging: Bool { self == .rdbu }

    /// The map's control colours, from the lowest value to the highest.
    var stops: [RGB] {
        let hex: [UInt32]
        switch self {
        case .blues: hex = [0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6, 0x4292C6, 0x2171B5, 0x08519C, 0x08306B]
        case .greens: hex = [0xF7FCF5, 0xE5F5E0, 0xC7E9C0, 0xA1D99B, 0x74C476, 0x41AB5D, 0x238B45, 0x006D2C, 0x00441B]
        case .oranges: hex = [0xFFF5EB, 0xFEE6CE, 0xFDD0A2, 0xFDAE6B, 0xFD8D3C, 0xF16913, 0xD94801, 0xA63603, 0x7F2704]
        case .purples: hex = [0xFCFBFD, 0xEFEDF5, 0xDADAEB, 0xBCBDDC, 0x9E9AC8, 0x807DBA, 0x6A51A3, 0x54278F, 0x3F007D]
        case .reds: hex = [0xFFF5F0, 0xFEE0D2, 0xFCBBA1, 0xFC9272, 0xFB6A4A, 0xEF3B2C, 0xCB181D, 0xA50F15, 0x67000D]
        case .greys: hex = [0xFFFFFF, 0xF0F0F0, 0xD9D9D9, 0xBDBDBD, 0x969696, 0x737373, 0x525252, 0x252525, 0x000000]
        case .ylorrd: hex = [0xFFFFCC, 0xFFEDA0, 0xFED976, 0xFEB24C, 0xFD8D3C, 0xFC4E2A, 0xE31A1C, 0xBD0026, 0x800026]
        case .viridis: hex = [0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21918C, 0x28AE80, 0x5EC962, 0xADDC30, 0xFDE725]
        // Low values red, high ones blue.
        case .rdbu: hex = [0xB2182B, 0xD6604D, 0xF4A582, 0xFDDBC7, 0xF7F7F7, 0xD1E5F0, 0x92C5DE, 0x4393C3, 0x2166AC]
        }
        return hex.map { RGB(hex: $0) }
    }

    /// The colour at `t` in 0…1, interpolated linearly between the control colours.
    public func color(at t: Double) -> RGB {
        let stops = self.stops
        let position = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
        let index = min(Int(position), stops.count - 2)
        return stops[index].mixed(with: stops[index + 1], position - Double(index))
    }
}

/// Maps values to colours: `t = ((v − minimum) / (maximum − minimum))^gamma`, clamped to 0…1,
/// then the colour map at `t` (matplotlib's `PowerNorm`).
public struct ColorScale: Sendable {
    public var map: ColorMapName
    public var minimum: Double
    public var maximum: Double
    public var gamma: Double

    public init(map: ColorMapName, minimum: Double, maximum: Double, gamma: Double) {
        self.map = map
        self.minimum = minimum
        self.maximum = maximum
        self.gamma = gamma
    }

    /// A scale from the options' ends, or from 0 to the largest of `values` when they are not set.
    init(options: FigureOptions, values: [Float], kind: FigureKind = .heatmap) {
        let largest = Double(values.max() ?? 1)
        let minimum = options.minimum ?? min(0, Double(values.min() ?? 0))
        var maximum = options.maximum ?? largest
        if maximum <= minimum { maximum = minimum + 1 }
        self.init(map: options.colorMap, minimum: minimum, maximum: maximum, gamma: options.gamma(for: kind))
    }

    /// The position of `value` along the colour map, 0…1.
    public func position(_ value: Double) -> Double {
        let linear = min(max((value - minimum) / (maximum - minimum), 0), 1)
        return pow(linear, gamma)
    }

    public func color(_ value: Double) -> RGB { map.color(at: position(value)) }
}
