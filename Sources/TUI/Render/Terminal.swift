import CNcurses
import Foundation
import Synchronization

/// The signal (SIGINT/SIGTERM/SIGHUP) that asked the dashboard to quit, 0 for none. A Swift
/// atomic, not a static inside a C header's inline function: such a static is duplicated in
/// every object file that inlines the function, and the release build's UI loop read another
/// copy than the one the handler wrote (the dashboard ignored SIGTERM).
private let quitRequest = Atomic<Int32>(0)

/// Records the signal; the UI loop polls `Terminal.quitSignal` on every tick and leaves curses
/// properly. An atomic store is async-signal-safe.
private func installQuitHandlers() {
    _ = quitRequest.load(ordering: .relaxed)  // initialized before any handler can run
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { signal in quitRequest.store(signal, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    for signal in [SIGINT, SIGTERM, SIGHUP] { sigaction(signal, &action, nil) }
}

/// The only place that talks to ncurses: sets the terminal up, draws frames, reads keys,
/// and always gives the terminal back (normal exit, signal, crash).
final class Terminal {
    private let color: Bool
    private var attributes: [Style: Int32] = [:]

    /// Whether the locale is UTF-8 (else ASCII glyphs are used, as htop does).
    let unicode: Bool

    init(noColor: Bool) {
        installQuitHandlers()
        setlocale(LC_ALL, "")
        unicode = String(cString: nl_langinfo(nl_item(CODESET))).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8"
        cn_save_termios()
        cn_install_crash_handlers()
        set_escdelay(25)
        initscr()
        cbreak()
        noecho()
        keypad(cn_stdscr(), true)
        curs_set(0)
        mousemask(cn_all_mouse_events(), nil)
        mouseinterval(0)
        color = !noColor && has_colors()
        if color {
            start_color()
            use_default_colors()
            let pairs: [(Style, Int16, Int16, Int32)] = [
                (.title, Int16(COLOR_BLACK), Int16(COLOR_CYAN), 0),
                (.header, Int16(COLOR_CYAN), -1, 0),
                (.columnHeader, Int16(COLOR_BLACK), Int16(COLOR_GREEN), 0),
                (.sortedHeader, Int16(COLOR_BLACK), Int16(COLOR_YELLOW), cn_a_bold()),
                (.selected, Int16(COLOR_BLACK), Int16(COLOR_CYAN), 0),
                (.hot, Int16(COLOR_YELLOW), -1, cn_a_bold()),
                (.banner, Int16(COLOR_WHITE), Int16(COLOR_RED), cn_a_bold()),
                (.key, Int16(COLOR_CYAN), -1, cn_a_bold()),
                (.status, Int16(COLOR_GREEN), -1, 0),
                (.tagged, Int16(COLOR_MAGENTA), -1, cn_a_bold()),
            ]
            for (i, (style, fg, bg, extra)) in pairs.enumerated() {
                init_pair(Int16(i + 1), fg, bg)
                attributes[style] = COLOR_PAIR(Int32(i + 1)) | extra
            }
            attributes[.dim] = cn_a_dim()
        } else {
            attributes = [
                .title: cn_a_bold_reverse(), .columnHeader: cn_a_reverse(), .sortedHeader: cn_a_bold_reverse(),
                .selected: cn_a_reverse(), .hot: cn_a_bold(), .banner: cn_a_bold_reverse(), .key: cn_a_bold(),
                .dim: cn_a_dim(), .header: cn_a_normal(), .status: cn_a_normal(), .tagged: cn_a_bold(),
            ]
        }
    }

    var size: (width: Int, height: Int) { (Int(cn_cols()), Int(cn_lines())) }

    /// A pending SIGINT/SIGTERM/SIGHUP, if any; SIGHUP also when the terminal has gone away
    /// without one (its reads would fail at once and the loop would spin).
    var quitSignal: Int32 {
        let signal = quitRequest.load(ordering: .relaxed)
        if signal != 0 { return signal }
        return cn_stdin_hung_up() != 0 ? SIGHUP : 0
    }

    func draw(_ screen: Screen) {
        erase()
        for (y, line) in screen.lines.enumerated() where y < screen.height {
            move(Int32(y), 0)
            var x = 0
            for run in line.runs {
                let w = Format.width(run.text)
                // Never write the bottom-right cell: curses would scroll.
                var text = run.text
                if y == screen.height - 1 && x + w >= screen.width { text = Format.truncate(text, max(0, screen.width - x - 1)) }
                let attr = attributes[run.style] ?? cn_a_normal()
                attron(attr)
                addstr(text)
                attroff(attr)
                x += w
            }
        }
        refresh()
    }

    /// Waits up to `timeoutMs` for a key; nil on timeout. A resize returns `.function(0)`.
    func readKey(timeoutMs: Int32) -> Key? {
        timeout(timeoutMs)
        var ch: wint_t = 0
        let result = get_wch(&ch)
        if result == ERR { return nil }
        if result == KEY_CODE_YES {
            switch Int32(ch) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_DC: return .delete
            case KEY_RESIZE: return .function(0)
            case KEY_MOUSE:
                var event = MEVENT()
                guard getmouse(&event) == OK else { return nil }
                if event.bstate & (cn_button1_pressed() | cn_button1_clicked()) != 0 {
                    return .click(x: Int(event.x), y: Int(event.y))
                }
                if event.bstate & cn_button4_pressed() != 0 { return .wheelUp }
                if event.bstate & cn_button5_pressed() != 0 { return .wheelDown }
                return nil
            default:
                for n in 1...12 where Int32(ch) == cn_key_f(Int32(n)) { return .function(n) }
                return nil
            }
        }
        switch ch {
        case 10, 13: return .enter
        case 27: return .escape
        case 127, 8: return .backspace
        case 9: return .tab
        case 3: return .char("q")
        default:
            guard let scalar = Unicode.Scalar(UInt32(ch)) else { return nil }
            return .char(Character(scalar))
        }
    }

    /// Leaves curses: alternate screen off, cursor on, mouse reporting off.
    func end() {
        mousemask(0, nil)
        curs_set(1)
        endwin()
    }
}
