import Testing

@testable import BrokerManagement

/// Percent-decoding of the API's paths and queries (client ids with spaces, slashes, UTF-8).
struct PercentDecodingTests {
    @Test("escapes in either case decode; text without escapes is returned as it is")
    func escapes() {
        #expect(PercentDecoding.decode("dev%2Fice%201") == "dev/ice 1")
        #expect(PercentDecoding.decode("%e6%b8%a9%E5%BA%A6") == "温度")
        #expect(PercentDecoding.decode("plain-id_1.2~") == "plain-id_1.2~")
        #expect(PercentDecoding.decode("%25") == "%")
        #expect(PercentDecoding.decode("") == "")
    }

    @Test("+ is a space in a query, a plus in a path")
    func plus() {
        #expect(PercentDecoding.decode("a+b", plusAsSpace: true) == "a b")
        #expect(PercentDecoding.decode("a+b") == "a+b")
        #expect(PercentDecoding.decode("a%2Bb", plusAsSpace: true) == "a+b")
    }

    @Test("a malformed escape or bytes that are not UTF-8 are refused (nil), not guessed")
    func malformed() {
        for bad in ["%", "%2", "%zz", "a%g1", "%C3", "%FF%FE", "%C3%28"] {
            #expect(PercentDecoding.decode(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("query strings: pairs in order, decoded, empty values and keys without =; a bad escape refuses the whole query")
    func queries() throws {
        let items = try #require(PercentDecoding.queryItems("_page=2&clientid=dev%2F1&like_clientid=a+b&flag&&empty="))
        #expect(items.map(\.key) == ["_page", "clientid", "like_clientid", "flag", "empty"])
        #expect(items.map(\.value) == ["2", "dev/1", "a b", "", ""])
        #expect(PercentDecoding.queryItems(nil)?.isEmpty == true && PercentDecoding.queryItems("")?.isEmpty == true)
        #expect(PercentDecoding.queryItems("a=%zz") == nil)
    }
}
