/// JSON written by hand (safetensors headers, snapshot files), where key order and layout are ours.
public enum JSONText {
    /// A JSON string literal: non-ASCII text kept as it is (UTF-8); quotes, backslashes, control
    /// characters, DEL and U+2028/U+2029 escaped (so the text is also safe inside a script element).
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
