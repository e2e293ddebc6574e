import ArgumentParser
import Broker
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Add, change or delete a user in a password file (mosquitto_passwd's format).",
        discussion: """
            The file holds one `user:$7$ROUNDS$SALT$HASH` line per user: PBKDF2-HMAC-SHA512 with a random salt, as mosquitto_passwd writes it \
            (files work in both brokers), followed by a `#aviary-scram-sha-256:USER:...` line with the user's SCRAM-SHA-256 keys for MQTT 5 \
            enhanced authentication (a comment to Mosquitto). The file is created with mode 600 if missing. The password is asked twice on a \
            terminal, or read as one line from standard input. Send SIGHUP to a running `aviary serve` to use the new file; connected clients stay.

            Examples:
              aviary passwd /etc/aviary/passwd alice
              echo 's3cret' | aviary passwd /etc/aviary/passwd sensor-7
              aviary passwd --delete /etc/aviary/passwd alice
            """
    )

    @Argument(help: "The password file.") var file: String
    @Argument(help: "The user name.") var user: String

    @Flag(name: .customLong("delete"), help: "Remove the user.") var delete = false

    @Option(name: .customLong("rounds"), help: "PBKDF2 rounds (default \(PasswordFile.defaultRounds)).")
    var rounds: Int = PasswordFile.defaultRounds

    func validate() throws {
        guard !user.isEmpty, !user.contains(":"), !user.contains(where: \.isNewline) else {
            throw ValidationError("USER: expected a non-empty name without ':' or line breaks")
        }
        guard (1...10_000_000).contains(rounds) else { throw ValidationError("--rounds: expected a number from 1 to 10000000") }
    }

    func run() throws {
        var passwords = PasswordFile()
        if FileManager.default.fileExists(atPath: file) {
            do {
                passwords = try PasswordFile(path: file)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        if delete {
            guard passwords.remove(user: user) else { throw ValidationError("no user '\(user)' in \(file)") }
        } else {
            passwords.set(user: user, password: try readPassword(), rounds: rounds)
        }
        try write(passwords.text)
        print(delete ? "removed \(user) from \(file)" : "set the password of \(user) in \(file)")
    }

    private func readPassword() throws -> String {
        if isatty(0) != 0 {
            guard let first = getpass("Password: ").map({ String(cString: $0) }), !first.isEmpty else {
                throw ValidationError("an empty password is not allowed")
            }
            guard let second = getpass("Reenter password: ").map({ String(cString: $0) }), second == first else {
                throw ValidationError("the passwords do not match")
            }
            return first
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("expected the password as one line on standard input")
        }
        return line
    }

    /// Replaces the file atomically, readable by its owner only.
    private func write(_ text: String) throws {
        let temporary = file + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, file) == 0 else {
            unlink(temporary)
            throw ValidationError("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }
}
