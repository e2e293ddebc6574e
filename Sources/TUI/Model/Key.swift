/// A key or mouse event, decoded from ncurses (or made up by tests).
public enum Key: Sendable, Hashable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, backspace, delete, tab
    case function(Int)
    /// A left click at a screen cell (0-based).
    case click(x: Int, y: Int)
    case wheelUp, wheelDown
}

/// What the reducer asks the outside world to do.
public enum Effect: Sendable, Equatable {
    case quit
    case kick(String)
    /// Disconnect every tagged client (EMQX 5/6's bulk kickout where there is one).
    case kickMany([String])
    case intervalChanged(Double)
    case pauseChanged(Bool)
    case openDetail(String)
    /// The subscriptions view opened or closed: the poller fetches every subscription while it is open.
    case subscriptionsWanted(Bool)
    /// The column choice changed (F2 closed): remember it.
    case savePreferences
}
