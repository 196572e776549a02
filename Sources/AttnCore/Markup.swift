/// Text made safe for HTML and XML pages (reports, reviews, JUnit, SVG): tokens, sentences and
/// messages are data, never markup.
public enum Markup {
    /// Escapes `& < > " '` and drops or replaces the characters XML 1.0 cannot hold (control
    /// characters other than tab, newline and carriage return, U+FFFE and U+FFFF) with U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
