@_spi(Fuzzing) import Broker

/// libFuzzer's entry point: the checks live in `CodecFuzzing` so that the tests replay the seed
/// corpus and every saved crash through exactly the same code.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    CodecFuzzing.run(UnsafeBufferPointer(start: start, count: count))
    return 0
}
