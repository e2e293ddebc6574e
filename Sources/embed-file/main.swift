import Foundation

// embed-file INPUT OUTPUT TYPE PROPERTY: writes a Swift file declaring
// `enum TYPE { static let PROPERTY: String }` holding INPUT's text exactly (a raw string literal
// whose delimiter is longer than any run of '#' in the text). Run by the EmbedFile plugin.
let arguments = CommandLine.arguments
guard arguments.count == 5 else {
    FileHandle.standardError.write(Data("usage: embed-file INPUT OUTPUT TYPE PROPERTY\n".utf8))
    exit(2)
}
let (input, output, type, property) = (arguments[1], arguments[2], arguments[3], arguments[4])
guard let data = FileManager.default.contents(atPath: input), let text = String(data: data, encoding: .utf8) else {
    FileHandle.standardError.write(Data("embed-file: \(input): cannot read it as UTF-8 text\n".utf8))
    exit(1)
}
var longest = 0
var run = 0
for character in text {
    run = character == "#" ? run + 1 : 0
    longest = max(longest, run)
}
let hashes = String(repeating: "#", count: longest + 1)
// In a multi-line literal the newline before the closing delimiter is not part of the text, so
// one more keeps the file's own last newline.
let source = """
    // Generated at build time from \((input as NSString).lastPathComponent) by the EmbedFile plugin. Edit that file.
    enum \(type) {
        static let \(property): String = \(hashes)\"\"\"
    \(text)
    \"\"\"\(hashes)
    }

    """
do {
    try source.write(toFile: output, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("embed-file: \(output): \(error)\n".utf8))
    exit(1)
}
