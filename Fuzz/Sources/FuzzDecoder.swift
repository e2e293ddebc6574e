@_spi(Fuzzing) import MQTTCodec

/// libFuzzer's entry point: the checks live in `CodecFuzzing` so that the tests replay the seed
/// corpus and every saved crash through exactly the same code.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    CodecFuzzing.run(UnsafeBufferPointer(start: start, count: count))
    return 0
}

/// libFuzzer's driver (compiler-rt), started from our own entry point.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main` (so that tests can import it);
/// here it hands over to libFuzzer.
@_cdecl("aviary_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv, fuzzOneInput)
}
