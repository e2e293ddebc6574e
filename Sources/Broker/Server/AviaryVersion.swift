/// The version reported by `aviary --version`, $SYS and the management API.
public enum AviaryVersion {
    public static let current = "0.1.0"
}
