#ifndef CNCURSES_SHIM_H
#define CNCURSES_SHIM_H
/* Wide-char API (cchar_t, add_wch, get_wch...). SwiftPM drops pkg-config's
   -D_XOPEN_SOURCE=600 ("prohibited flag"), so switch it on here. */
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>
#include <ncursesw/curses.h>

/* Swift 6: mutable C globals are "not concurrency-safe" -> accessor functions. */
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline int cn_lines(void)      { return LINES; }
static inline int cn_cols(void)       { return COLS; }
/* Function-like macros are not imported (A_*, KEY_F(n), BUTTON*, ACS_*). */
static inline int cn_a_bold(void)      { return (int)A_BOLD; }
static inline int cn_a_reverse(void)   { return (int)A_REVERSE; }
static inline int cn_a_underline(void) { return (int)A_UNDERLINE; }
static inline int cn_a_dim(void)       { return (int)A_DIM; }
static inline int cn_a_normal(void)    { return (int)A_NORMAL; }
static inline int cn_a_bold_reverse(void) { return (int)(A_BOLD | A_REVERSE); }
static inline int cn_key_f(int n)      { return KEY_F(n); }
static inline mmask_t cn_all_mouse_events(void) { return ALL_MOUSE_EVENTS; }
static inline mmask_t cn_button1_pressed(void)  { return BUTTON1_PRESSED; }
static inline mmask_t cn_button1_clicked(void)  { return BUTTON1_CLICKED; }
static inline mmask_t cn_button4_pressed(void)  { return BUTTON4_PRESSED; } /* wheel up */
static inline mmask_t cn_button5_pressed(void)  { return BUTTON5_PRESSED; } /* wheel down */
/* glibc declares wcwidth() only under _XOPEN_SOURCE, so Glibc's module lacks it. */
extern int wcwidth(wchar_t c);
static inline int cn_wcwidth(unsigned int cp) { return wcwidth((wchar_t)cp); }

/* Crash-time restore. tcsetattr/write are async-signal-safe, endwin is not.
   File-scope statics in an imported header are NOT emitted (undefined symbol
   at link time): keep state in function-local statics. Each importing Swift
   module gets its own copy, so call save/install/restore from one module. */
static inline struct termios *cn_saved_termios(void) { static struct termios t; return &t; }
static inline int *cn_have_termios(void) { static int h = 0; return &h; }
static inline struct sigaction *cn_old_actions(void) { static struct sigaction a[NSIG]; return a; }
static inline void cn_save_termios(void) {
    if (tcgetattr(STDIN_FILENO, cn_saved_termios()) == 0) *cn_have_termios() = 1;
}
static inline void cn_emergency_restore(void) {
    static const char seq[] = "\033[?1000l\033[?1002l\033[?1006l\033[0m\033[?25h\033[?1049l\r\n";
    ssize_t r = write(STDOUT_FILENO, seq, sizeof seq - 1); (void)r;  /* mouse off, sgr0, cursor on, leave alt screen */
    if (*cn_have_termios()) tcsetattr(STDIN_FILENO, TCSAFLUSH, cn_saved_termios());
}
static inline void cn_fatal_handler(int sig) {
    cn_emergency_restore();
    sigaction(sig, &cn_old_actions()[sig], NULL);  /* then Swift's backtracer / SIG_DFL */
    raise(sig);
}
static inline void cn_install_crash_handlers(void) {
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE };
    struct sigaction sa; sigemptyset(&sa.sa_mask); sa.sa_flags = 0; sa.sa_handler = cn_fatal_handler;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, &cn_old_actions()[sigs[i]]);
}
/* Whether standard input's terminal is gone (hung up, closed): reads then fail at once, so the
   UI loop would spin instead of waiting for keys. */
static inline int cn_stdin_hung_up(void) {
    struct pollfd p = { .fd = 0, .events = POLLIN, .revents = 0 };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}
#endif
