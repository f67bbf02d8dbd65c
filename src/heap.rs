//! Transparent huge pages for glibc's malloc heaps.
//!
//! A busy host's plan touches ~12 MB of heap: without huge pages that is ~3,000 page faults,
//! at 1.5-2 µs each in a VM a tenth of the run. glibc backs its heaps with THP when started
//! with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which only the environment at exec can set;
//! this asks the kernel the same from inside, with madvise(MADV_HUGEPAGE) over the main
//! heap's slack and over each thread's arena. It is a hint: with THP off, or another libc,
//! nothing changes.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use nix::libc;

    const HUGE: usize = 2 << 20;
    /// glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's heap is a mapping of this size,
    /// aligned to it, so any chunk of the arena locates it.
    const ARENA_HEAP: usize = 64 << 20;

    /// Grow the main heap by its top pad (set by `M_TOP_PAD` before) and advise huge pages
    /// over the new part, before anything is written there. Call once, before threads start.
    pub fn main_heap() {
        // SAFETY: sbrk(0) only reads the break; every block is freed; madvise is a hint on
        // our own heap mapping
        unsafe {
            let before = libc::sbrk(0) as usize;
            let mut held = Vec::with_capacity(64);
            while libc::sbrk(0) as usize == before && held.len() < 64 {
                held.push(libc::malloc(16 << 10));
            }
            let after = libc::sbrk(0) as usize;
            for p in held {
                libc::free(p);
            }
            let start = before.next_multiple_of(HUGE);
            if after > start {
                libc::madvise(start as *mut _, after - start, libc::MADV_HUGEPAGE);
            }
        }
    }

    /// Advise huge pages over the calling thread's arena heap. Call first thing in a thread
    /// that allocates megabytes.
    pub fn thread_heap() {
        // SAFETY: the block is freed at once; madvise is a hint on the arena's own mapping,
        // which glibc aligns to ARENA_HEAP; a block of the main arena (below the break) is
        // left alone
        unsafe {
            // larger than glibc's per-thread cache holds, whose blocks may come from any arena
            let p = libc::malloc(4096);
            let at = p as usize;
            libc::free(p);
            if at != 0 && at >= libc::sbrk(0) as usize {
                libc::madvise(
                    (at & !(ARENA_HEAP - 1)) as *mut _,
                    ARENA_HEAP,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn main_heap() {}
    pub fn thread_heap() {}
}

pub use imp::{main_heap, thread_heap};

/// Spawn `f` on a scoped thread whose arena is advised huge pages first: qfix's threads each
/// allocate megabytes.
pub fn spawn<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    s.spawn(|| {
        thread_heap();
        f()
    })
}

/// The thread's result; a panic in it is a bug, surfaced as one.
pub fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use nix::libc;

    /// VmFlags of the mapping holding `addr`, from /proc/self/smaps.
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((a, b)) = range.split_once('-')
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                inside = (a..b).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.trim().to_string());
            }
        }
        None
    }

    /// The madvise must land on the thread's own arena: glibc's layout (arenas aligned to
    /// 64 MiB, blocks beyond the thread cache from the thread's arena) is what it relies on.
    #[test]
    fn issue5_thread_arena_is_advised_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("skipped: this kernel has no transparent huge pages");
            return;
        }
        let flags = std::thread::spawn(|| {
            super::thread_heap();
            // SAFETY: a plain allocation, freed below
            let p = unsafe { libc::malloc(4096) };
            let flags = vm_flags(p as usize);
            unsafe { libc::free(p) };
            flags
        })
        .join()
        .unwrap();
        let flags = flags.expect("the block's mapping is in smaps");
        assert!(flags.split(' ').any(|f| f == "hg"), "VmFlags: {flags}");
    }
}
