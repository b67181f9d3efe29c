import Foundation

extension Encodable {
    /// Stable, diffable JSON: sorted keys, pretty-printed, no escaped slashes.
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
