import Foundation

/// The one JSON object a test script prints on a line of its own (its result), with that line
/// for messages. Fails naming the whole output when there is none.
package func printedResult(_ output: String) throws -> (line: String, object: [String: Any]) {
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("{") }).map(String.init),
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else { throw NoResult(output: output) }
    return (line, object)
}

package struct NoResult: Error, CustomStringConvertible {
    let output: String
    package var description: String { "the script printed no JSON result:\n\(output)" }
}
