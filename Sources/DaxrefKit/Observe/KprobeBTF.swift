import SystemPackage

/// Just enough of a BTF reader (Documentation/bpf/btf.rst) to find a struct member's offset in the
/// running kernel's /sys/kernel/btf/vmlinux: it confirms the struct page offsets the fetchargs use.
public struct BTFReader: Sendable {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case truncated
        case badMagic(UInt16)
        case unknownKind(UInt32)

        public var description: String {
            switch self {
            case .truncated: "BTF data truncated"
            case .badMagic(let magic): "not BTF (magic 0x\(String(magic, radix: 16)))"
            case .unknownKind(let kind): "unknown BTF kind \(kind)"
            }
        }
    }

    struct TypeEntry: Sendable {
        var nameOffset: UInt32
        var kind: UInt32
        var vlen: Int
        var kindFlag: Bool
        var sizeOrType: UInt32
        /// Offset in the type section of the kind-specific data after the 12-byte header.
        var extraOffset: Int
    }

    let bytes: [UInt8]
    let typeStart: Int
    let stringStart: Int
    let stringLength: Int
    /// Index i is type id i+1 (id 0 is void).
    let types: [TypeEntry]

    public init(bytes: [UInt8]) throws(Failure) {
        func u16(_ at: Int) throws(Failure) -> UInt16 {
            guard at + 2 <= bytes.count else { throw .truncated }
            return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= bytes.count else { throw .truncated }
            return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        let magic = try u16(0)
        guard magic == 0xEB9F else { throw .badMagic(magic) }  // little-endian host and kernel
        let headerLength = Int(try u32(4))
        typeStart = headerLength + Int(try u32(8))
        let typeLength = Int(try u32(12))
        stringStart = headerLength + Int(try u32(16))
        stringLength = Int(try u32(20))
        guard typeStart + typeLength <= bytes.count, stringStart + stringLength <= bytes.count else { throw .truncated }

        var entries: [TypeEntry] = []
        var offset = typeStart
        while offset < typeStart + typeLength {
            let info = try u32(offset + 4)
            let kind = (info >> 24) & 0x1f
            let vlen = Int(info & 0xffff)
            let entry = TypeEntry(
                nameOffset: try u32(offset), kind: kind, vlen: vlen, kindFlag: info >> 31 == 1,
                sizeOrType: try u32(offset + 8), extraOffset: offset + 12)
            offset += 12
            switch kind {
            case 1, 14, 17: offset += 4  // INT, VAR, DECL_TAG
            case 3: offset += 12  // ARRAY
            case 4, 5, 15, 19: offset += 12 * vlen  // STRUCT, UNION, DATASEC, ENUM64
            case 6, 13: offset += 8 * vlen  // ENUM, FUNC_PROTO
            case 2, 7, 8, 9, 10, 11, 12, 16, 18: break  // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
            default: throw .unknownKind(kind)
            }
            // The members (or other kind data) are read later without checks: they must be in the section.
            guard offset <= typeStart + typeLength else { throw .truncated }
            entries.append(entry)
        }
        self.bytes = bytes
        self.types = entries
    }

    private func u32(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    private func name(_ offset: UInt32) -> String {
        let start = stringStart + Int(offset)
        guard start < stringStart + stringLength else { return "" }
        var end = start
        while end < stringStart + stringLength, bytes[end] != 0 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Size in bytes of the struct named `structName`.
    public func structSize(_ structName: String) -> Int? {
        types.first { $0.kind == 4 && name($0.nameOffset) == structName }.map { Int($0.sizeOrType) }
    }

    /// Byte offset of `member` in struct `structName`, looking through anonymous unions and structs.
    public func memberOffset(_ structName: String, _ member: String) -> Int? {
        guard let entry = types.first(where: { $0.kind == 4 && name($0.nameOffset) == structName }) else { return nil }
        var searched: Set<Int> = []
        return memberOffset(in: entry, member, depth: 0, searched: &searched).map { $0 / 8 }
    }

    /// Bit offset of `member` in a struct/union entry. Each anonymous type is searched once: members
    /// of one type may all name the same nested type, which otherwise costs members^depth.
    private func memberOffset(in entry: TypeEntry, _ member: String, depth: Int, searched: inout Set<Int>) -> Int? {
        guard depth < 8 else { return nil }
        for index in 0..<entry.vlen {
            let at = entry.extraOffset + 12 * index
            let memberName = name(u32(at))
            let rawOffset = u32(at + 8)
            let bits = Int(entry.kindFlag ? rawOffset & 0xffffff : rawOffset)
            if memberName == member { return bits }
            let typeID = Int(u32(at + 4))
            if memberName.isEmpty, typeID >= 1, typeID <= types.count, searched.insert(typeID).inserted {
                let nested = types[typeID - 1]
                if nested.kind == 4 || nested.kind == 5, let inner = memberOffset(in: nested, member, depth: depth + 1, searched: &searched) {
                    return bits + inner
                }
            }
        }
        return nil
    }
}

extension PageLayout {
    /// The running kernel's struct page (and struct bio) layout from BTF, or `.assumed` (with the
    /// reason) when BTF is absent or lacks the fields.
    public static func current(btfPath: FilePath = "/sys/kernel/btf/vmlinux") -> (layout: PageLayout, note: String) {
        let bytes: [UInt8]
        do { bytes = try SystemFile.readBytes(btfPath) } catch {
            return (.assumed, "\(btfPath): \(error); using +52/+8/64 measured on Debian 6.1-7.2")
        }
        do {
            return from(try BTFReader(bytes: bytes), path: btfPath.string)
        } catch {
            return (.assumed, "\(btfPath): \(error); using +52/+8/64")
        }
    }

    package static func from(_ btf: BTFReader, path: String) -> (layout: PageLayout, note: String) {
        // 7.x renamed the tail word compound_head → compound_info (and changed what it holds).
        let headField = btf.memberOffset("page", "compound_head") != nil ? "compound_head" : "compound_info"
        guard let refcount = btf.memberOffset("page", "_refcount"),
            let head = btf.memberOffset("page", headField),
            let size = btf.structSize("page")
        else { return (.assumed, "BTF in \(path) has no struct page _refcount/compound_head/compound_info; using +52/+8/64") }
        let vector = btf.memberOffset("bio", "bi_io_vec"), page = btf.memberOffset("bio_vec", "bv_page")
        // struct folio spans the head and page[1]; `_pincount` sits in page[1] in every era.
        let pincount = btf.memberOffset("folio", "_pincount").flatMap { $0 >= size ? $0 : nil }
        let layout = PageLayout(
            refcountOffset: refcount, compoundHeadOffset: head, pageSize: size, bioIoVecOffset: vector,
            bioVecPageOffset: page, pincountOffset: pincount, source: "btf")
        var note = "struct page from \(path): _refcount +\(refcount), \(headField) +\(head), size \(size)"
        if let vector, let page { note += "; bio.bi_io_vec +\(vector), bio_vec.bv_page +\(page)" }
        if let pincount { note += "; folio._pincount +\(pincount)" }
        return (layout, note)
    }
}
