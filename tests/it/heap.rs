//! Huge pages for qfix's threads (issue 5). A test binary of its own: the arena a thread gets
//! must be a new one, made after `heap::tune` as in qfix, not one an earlier test left.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use nix::libc;

/// A field (`VmFlags`, `AnonHugePages`...) of the mapping holding `addr`, from
/// /proc/self/smaps.
fn smaps_field(addr: usize, field: &str) -> Option<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ')
            && let Some((a, b)) = range.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            inside = (a..b).contains(&addr);
        } else if inside && let Some(v) = line.strip_prefix(field).and_then(|l| l.strip_prefix(':'))
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// The madvise must land on the thread's own arena (glibc aligns arenas to 64 MiB, and
/// blocks beyond the thread cache come from the thread's arena), and the thread's blocks must
/// be in huge pages: not in the arena's first 2 MiB, which glibc wrote before the advice.
#[test]
fn issue5_thread_arena_is_advised_and_backed_by_huge_pages() {
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if !thp.is_ok_and(|m| !m.contains("[never]")) {
        eprintln!("SKIP: transparent huge pages are off here");
        return;
    }
    let fallbacks = || {
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
        vmstat
            .lines()
            .find_map(|l| l.strip_prefix("thp_fault_fallback "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    let fallbacks_before = fallbacks();
    qfix::heap::tune();
    let (flags, huge) = std::thread::scope(|s| {
        qfix::heap::join(qfix::heap::spawn(s, || {
            // SAFETY: a plain allocation, written (so its page is there) and freed below
            let p = unsafe { libc::malloc(4096) };
            unsafe { p.cast::<u8>().write(1) };
            let found = (
                smaps_field(p as usize, "VmFlags"),
                smaps_field(p as usize, "AnonHugePages"),
            );
            unsafe { libc::free(p) };
            found
        }))
    });
    let flags = flags.expect("the block's mapping is in smaps");
    assert!(flags.split(' ').any(|f| f == "hg"), "VmFlags: {flags}");
    let huge = huge.expect("AnonHugePages in smaps");
    if huge == "0 kB" && fallbacks() != fallbacks_before {
        eprintln!("SKIP (huge page): the kernel had no free huge page (thp_fault_fallback)");
        return;
    }
    assert_ne!(huge, "0 kB", "the thread allocates in small pages");
}
