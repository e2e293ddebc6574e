import HTTPTypes
import Hummingbird

/// An API failure with a real HTTP status and the EMQX/NanoMQ numeric code, rendered as
/// `{"code":N,"message":"..."}` with `Content-Type: application/json`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: Int
    var message: String
    var headers: HTTPFields = [:]

    static func unknownRoute(_ path: String) -> APIError { .init(status: .notFound, code: 102, message: "no such endpoint: \(path)") }
    static func badParameter(_ message: String) -> APIError { .init(status: .badRequest, code: 108, message: message) }
    static func clientNotFound(_ id: String) -> APIError { .init(status: .notFound, code: 112, message: "client not online: \(id)") }
    static func methodNotAllowed(_ allowed: [HTTPRequest.Method]) -> APIError {
        var headers = HTTPFields()
        headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return .init(status: .methodNotAllowed, code: 102, message: "method not allowed; allowed: \(headers[.allow]!)", headers: headers)
    }

    var response: Response {
        var json = JSONWriter(capacity: 128)
        json.object { o in
            o.field("code", code)
            o.field("message", message)
        }
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: json.buffer))
    }
}
