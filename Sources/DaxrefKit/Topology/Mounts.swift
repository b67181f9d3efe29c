import SystemPackage

/// One line of /proc/mounts.
public struct MountEntry: Sendable, Equatable {
    public var source: String
    public var mountpoint: String
    public var fstype: String
    public var options: [String]

    /// The DAX option, unless it asks for no DAX (`dax=never`).
    public var daxOption: String? {
        options.first { $0 == "dax" || ($0.hasPrefix("dax=") && $0 != "dax=never") }
    }

    /// Parses /proc/mounts text; nil for a line that does not have the six fields.
    public static func parse(_ text: String) -> [MountEntry?] {
        text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 6 else { return nil }
            return MountEntry(
                source: unescape(fields[0]), mountpoint: unescape(fields[1]), fstype: String(fields[2]),
                options: fields[3].split(separator: ",").map(String.init))
        }
    }

    /// The kernel escapes space, tab, newline and backslash as \ooo octal.
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.first {
            if byte == UInt8(ascii: "\\"), utf8.count >= 4,
                let value = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(byte)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension DaxMount {
    /// Mounts that asked for DAX, each checked with statx on a regular file found near its root.
    static func current() throws(InventoryError) -> [DaxMount] {
        let path: FilePath = "/proc/mounts"
        let text: String
        do { text = try SystemFile.readString(path) } catch { throw .unreadable(path.string, error) }
        return MountEntry.parse(text).compactMap { $0 }.compactMap { entry in
            guard let option = entry.daxOption else { return nil }
            let probe = regularFile(near: FilePath(entry.mountpoint))
            let dax = probe.flatMap { try? StatxAttributes.of($0).isDAX } ?? nil
            return DaxMount(
                source: entry.source, mountpoint: entry.mountpoint, fstype: entry.fstype,
                daxOption: option, statxDax: dax, statxProbe: dax == nil ? nil : probe?.string)
        }
    }

    /// A regular file in the mount's top directory or one level down (bounded: a directory
    /// never carries STATX_ATTR_DAX, and inventory must not create files).
    private static func regularFile(near root: FilePath) -> FilePath? {
        var directories = [root]
        var visited = 0
        while !directories.isEmpty, visited < 256 {
            let directory = directories.removeFirst()
            for name in (try? SystemFile.listDirectory(directory)) ?? [] {
                visited += 1
                let candidate = directory.appending(name)
                guard let attributes = try? StatxAttributes.of(candidate) else { continue }
                if attributes.isRegularFile { return candidate }
                if attributes.mode & 0o170000 == 0o040000, directory == root, name != "lost+found" {
                    directories.append(candidate)
                }
            }
        }
        return nil
    }
}
