import CNcurses

/// The only place that talks to ncurses. The dashboard (a later issue) draws through it.
public enum Terminal {
    /// The ncurses version string the binary is linked against.
    public static var ncursesVersion: String {
        String(cString: curses_version())
    }
}
