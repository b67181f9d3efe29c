import SystemPackage
import Testing

@testable import DaxrefKit

@Suite struct KprobeBTFTests {
    /// A minimal BTF blob: int (id 1); an anonymous union (id 2) holding compound_head; struct page
    /// (id 3, 64 bytes) with flags at 0, the union at 8 and _refcount at 52 — the shape of the real
    /// struct page, where compound_head sits inside an anonymous union.
    static func sample(magic: UInt16 = 0xEB9F, pageMembers: UInt32 = 3) -> [UInt8] {
        var strings: [UInt8] = [0]
        func name(_ text: String) -> UInt32 {
            let offset = UInt32(strings.count)
            strings += Array(text.utf8) + [0]
            return offset
        }
        let int = name("int"), page = name("page"), flags = name("flags"), head = name("compound_head"), refcount = name("_refcount")
        var types: [UInt32] = []
        types += [int, 1 << 24, 4, 32]  // INT, size 4, encoding word
        types += [0, 5 << 24 | 1, 8, head, 1, 0]  // UNION, 1 member: compound_head at bit 0
        types += [page, 4 << 24 | pageMembers, 64, flags, 1, 0, 0, 2, 64, refcount, 1, 416]  // STRUCT page
        return encode(types: types, strings: strings, magic: magic)
    }

    /// The BTF header (version 1, 24 bytes), the type section, then the string section.
    static func encode(types: [UInt32], strings: [UInt8], magic: UInt16 = 0xEB9F) -> [UInt8] {
        var bytes: [UInt8] = []
        func put16(_ value: UInt16) { bytes += [UInt8(value & 0xff), UInt8(value >> 8)] }
        func put32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((value >> UInt32(shift)) & 0xff)) } }
        put16(magic)
        bytes += [1, 0]
        put32(24)
        put32(0)
        put32(UInt32(types.count * 4))
        put32(UInt32(types.count * 4))
        put32(UInt32(strings.count))
        types.forEach(put32)
        return bytes + strings
    }

    @Test func findsMembersThroughAnonymousUnions() throws {
        let btf = try BTFReader(bytes: Self.sample())
        #expect(btf.memberOffset("page", "_refcount") == 52)
        #expect(btf.memberOffset("page", "compound_head") == 8)
        #expect(btf.structSize("page") == 64)
        #expect(btf.memberOffset("page", "nope") == nil)
        #expect(btf.memberOffset("folio", "_refcount") == nil)
    }

    /// Found by fuzzing (scripts/fuzz.sh btf): a struct whose member count runs past the type section
    /// was accepted, and memberOffset then read its "members" beyond the end of the bytes.
    @Test func membersPastTheTypeSectionAreTruncation() {
        #expect(throws: BTFReader.Failure.truncated) { try BTFReader(bytes: Self.sample(pageMembers: 30)) }
    }

    /// Every member of each anonymous struct naming the next one: searching a missing member walked
    /// 40^6 paths before each type was searched once.
    @Test(.timeLimit(.minutes(1)))
    func repeatedAnonymousMembersAreSearchedOnce() throws {
        let (levels, fanOut) = (6, UInt32(40))
        let strings: [UInt8] = [0] + Array("page\0deep\0".utf8)
        let (page, deep): (UInt32, UInt32) = (1, 6)
        var types: [UInt32] = [page, 4 << 24 | fanOut, 64]  // id 1: struct page, every member the anonymous id 2
        for _ in 0..<fanOut { types += [0, 2, 0] }
        for level in 1..<levels {  // ids 2…levels: anonymous structs, each member the next one
            types += [0, 4 << 24 | fanOut, 64]
            for _ in 0..<fanOut { types += [0, UInt32(level + 2), 0] }
        }
        types += [0, 4 << 24 | 1, 64, deep, 1, 64]  // the last: `deep` at bit 64
        let btf = try BTFReader(bytes: Self.encode(types: types, strings: strings))
        #expect(btf.memberOffset("page", "missing") == nil)
        #expect(btf.memberOffset("page", "deep") == 8)
    }

    @Test func rejectsBadMagicAndTruncation() {
        #expect(throws: BTFReader.Failure.badMagic(0x1234)) { try BTFReader(bytes: Self.sample(magic: 0x1234)) }
        #expect(throws: BTFReader.Failure.truncated) { try BTFReader(bytes: Array(Self.sample().prefix(40))) }
        #expect(throws: BTFReader.Failure.truncated) { try BTFReader(bytes: []) }
    }

    @Test(.enabled(if: SystemFile.exists("/sys/kernel/btf/vmlinux"), "needs the running kernel's BTF"))
    func runningKernelHasTheMeasuredLayout() {
        let (layout, note) = PageLayout.current()
        #expect(layout.source == "btf", "\(note)")
        #expect(layout.refcountOffset == 52)
        #expect(layout.compoundHeadOffset == 8)
        #expect(layout.pageSize == 64)
        #expect(layout.pincountOffset == 88 || layout.pincountOffset == 92, "folio._pincount lives in page[1]: \(note)")
    }

    @Test func missingBTFFallsBackToTheMeasuredValues() {
        let (layout, note) = PageLayout.current(btfPath: "/nonexistent/btf")
        #expect(layout == .assumed)
        #expect(note.contains("/nonexistent/btf"))
    }
}
