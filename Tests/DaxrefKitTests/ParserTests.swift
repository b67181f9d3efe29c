import Testing

@testable import DaxrefKit

@Suite struct CPUListTests {
    @Test func parsesRangesAndSingles() {
        #expect(CPUList.parse("0-3,5,8-9\n") == [0, 1, 2, 3, 5, 8, 9])
        #expect(CPUList.parse("0") == [0])
        #expect(CPUList.parse("") == [])
    }

    @Test(arguments: ["a", "3-1", "1-", "-1", "1,,2", "0-2-4"])
    func rejectsMalformed(_ text: String) {
        #expect(CPUList.parse(text) == nil)
    }

    /// Found by fuzzing (scripts/fuzz.sh cpulist): a range is expanded, so "0-9223372036854775806"
    /// asked for an array of 2^63 entries.
    @Test func rejectsListsLongerThanAnyKernelPrints() {
        #expect(CPUList.parse("0-9223372036854775806") == nil)
        #expect(CPUList.parse("0-40000,50000-90000") == nil)
        #expect(CPUList.parse("0-65535")?.count == 65536)
    }

    @Test func rendersCompactly() {
        #expect(cpuListString([5, 0, 1, 2, 3, 8, 9]) == "0-3,5,8-9")
        #expect(cpuListString([]) == "")
    }
}

@Suite struct MountTests {
    // Lines as /proc/mounts prints them on a 6.1 guest with fsdax ext4 and xfs (see Fixtures).
    let text = """
        /dev/pmem0 /mnt/daxref/ext4 ext4 rw,relatime,dax 0 0
        /dev/pmem1 /mnt/daxref/xfs xfs rw,relatime,attr2,dax=always,inode64,logbufs=8,noquota 0 0
        /dev/pmem2 /mnt/never xfs rw,dax=never 0 0
        tmpfs /mnt/with\\040space tmpfs rw 0 0
        truncated line
        """

    @Test func findsDaxMountsAndOptions() {
        let entries = MountEntry.parse(text)
        #expect(entries.count == 5)
        #expect(entries[0]?.daxOption == "dax")
        #expect(entries[1]?.daxOption == "dax=always")
        #expect(entries[2]?.daxOption == nil, "dax=never asks for no DAX")
        #expect(entries[3]?.mountpoint == "/mnt/with space")
        #expect(entries[4] == nil, "a line without six fields is an error, not a mount")
    }

    @Test func unescapesOctal() {
        #expect(MountEntry.unescape("a\\011b\\134c") == "a\tb\\c")
        #expect(MountEntry.unescape("trailing\\04") == "trailing\\04", "incomplete escape stays literal")
    }
}

@Suite struct KernelConfigTests {
    @Test func readsSetUnsetAndMissingOptions() {
        let config = KernelConfig.relevant(in: """
            CONFIG_ZONE_DEVICE=y
            CONFIG_DEV_DAX=m
            # CONFIG_GUP_TEST is not set
            CONFIG_UNRELATED=y
            CONFIG_FS_DAX_PMD=y
            """)
        #expect(config["ZONE_DEVICE"] == "y")
        #expect(config["DEV_DAX"] == "m")
        #expect(config["GUP_TEST"] == "n")
        #expect(config["KPROBE_EVENTS"] == "n", "absent from the file means not set")
        #expect(config["UNRELATED"] == nil)
        #expect(config.count == KernelConfig.relevantOptions.count)
    }
}

@Suite struct FormattingTests {
    @Test func humanBytesUsesBinaryUnits() {
        #expect(humanBytes(512) == "512 B")
        #expect(humanBytes(2 << 20) == "2.00 MiB")
        #expect(humanBytes(1_610_612_736) == "1.50 GiB")
        #expect(humanBytes(4096 + 41) == "4.04 KiB")
    }

    @Test func tableAlignsColumns() {
        var table = TextTable("A", "LONGER")
        table.add("wide-cell", "x")
        #expect(table.render(indent: "") == "A          LONGER\nwide-cell  x")
    }
}
