/// Human units for the table: right-aligned numbers that fit their column.
public enum Format {
    static let byteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]

    /// 0 B, 1023 B, 1.2 KiB, 3.4 MiB …
    public static func bytes(_ value: UInt64) -> String {
        scaled(Double(value), base: 1024, units: byteUnits)
    }

    /// 1.2 KiB/s
    public static func byteRate(_ perSecond: Double) -> String {
        scaled(max(0, perSecond), base: 1024, units: byteUnits) + "/s"
    }

    /// 999, 3.4k, 12.3M, 1.0G
    public static func count(_ value: UInt64) -> String {
        scaled(Double(value), base: 1000, units: ["", "k", "M", "G", "T"], space: false)
    }

    /// Messages per second: 0, 0.5, 12, 3.4k
    public static func rate(_ perSecond: Double) -> String {
        let v = max(0, perSecond)
        if v == 0 { return "0" }
        if v < 10 { return oneDecimal(v) }
        return scaled(v, base: 1000, units: ["", "k", "M", "G"], space: false)
    }

    /// 42s, 5m07s, 2h03m, 3d04h
    public static func duration(seconds: Int64) -> String {
        let s = max(0, seconds)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        switch s {
        case ..<60: return "\(s)s"
        case ..<3600: return "\(s / 60)m\(two(s % 60))s"
        case ..<86400: return "\(s / 3600)h\(two(s % 3600 / 60))m"
        default: return "\(s / 86400)d\(two(s % 86400 / 3600))h"
        }
    }

    static func scaled(_ value: Double, base: Double, units: [String], space: Bool = true) -> String {
        var v = value
        var unit = 0
        while v >= base && unit < units.count - 1 {
            v /= base
            unit += 1
        }
        let sep = space && !units[unit].isEmpty ? " " : ""
        if unit == 0 { return "\(Int(v))\(space ? " " : "")\(units[0])".trimmingSuffix(" ") }
        return (v < 100 ? oneDecimal(v) : "\(Int(v.rounded()))") + sep + units[unit]
    }

    static func oneDecimal(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Display width of a string in terminal cells (wide East Asian and emoji = 2,
    /// combining marks = 0).
    public static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + width(of: $1) }
    }

    static func width(of scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v == 0 { return 0 }
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1FAFF).contains(v) || (0x20000...0x3FFFD).contains(v)
        {
            return 2
        }
        return 1
    }

    /// Cuts `s` to at most `width` cells, without an ellipsis or padding.
    public static func truncate(_ s: String, _ width: Int) -> String {
        var used = 0
        var out = ""
        for scalar in s.unicodeScalars {
            let w = Format.width(of: scalar)
            if used + w > width { break }
            out.unicodeScalars.append(scalar)
            used += w
        }
        return out
    }

    /// Cuts `s` to `width` cells with a trailing "…" when it is longer; pads to `width`.
    public static func fit(_ s: String, _ width: Int, alignRight: Bool = false, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        var used = 0
        var out = ""
        let total = Format.width(s)
        if total <= width {
            let pad = String(repeating: " ", count: width - total)
            return alignRight ? pad + s : s + pad
        }
        let room = width - Format.width(ellipsis)
        for scalar in s.unicodeScalars {
            let w = Format.width(of: scalar)
            if used + w > room { break }
            out.unicodeScalars.append(scalar)
            used += w
        }
        out += ellipsis
        return out + String(repeating: " ", count: max(0, width - used - Format.width(ellipsis)))
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
